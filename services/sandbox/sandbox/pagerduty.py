"""A PagerDuty Events API v2 stand-in: POST /v2/enqueue validates and records every event.

It answers as PagerDuty does (202 with status, message and dedup_key; 400 with the reason for
an invalid event) and takes the same fault injection as the other providers, channel
``alerts``. GET /admin/alerts lists every accepted event, newest last.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import Blueprint, jsonify

from sandbox.bodies import json_body
from sandbox.faults import FaultBoard

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
# PagerDuty's integration keys are 32 characters.
ROUTING_KEY_LENGTH = 32


class AlertLog:
    """Every accepted event, in arrival order (thread-safe, in memory)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []

    def add(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._events.append({"received_at": time.time(), "event": event})

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)


def problem(event: object) -> str | None:
    """Why ``event`` is not a valid v2 event, or None."""
    if not isinstance(event, dict):
        return "the body must be a JSON object"
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != ROUTING_KEY_LENGTH:
        return f"routing_key must be a {ROUTING_KEY_LENGTH}-character integration key"
    if event.get("event_action") not in ACTIONS:
        return f"event_action must be one of {', '.join(ACTIONS)}"
    if event["event_action"] != "trigger":
        return None if isinstance(event.get("dedup_key"), str) else "dedup_key is required to acknowledge or resolve"
    payload = event.get("payload")
    if not isinstance(payload, dict):
        return "payload is required for a trigger"
    for field in ("summary", "source"):
        if not isinstance(payload.get(field), str) or not payload[field]:
            return f"payload.{field} is required"
    if len(payload["summary"]) > 1024:
        return "payload.summary must be at most 1024 characters"
    if payload.get("severity") not in SEVERITIES:
        return f"payload.severity must be one of {', '.join(SEVERITIES)}"
    return None


def blueprint(board: FaultBoard, log: AlertLog) -> Blueprint:
    bp = Blueprint("pagerduty", __name__)

    @bp.post("/v2/enqueue")
    def enqueue():  # type: ignore[no-untyped-def]
        time.sleep(board.latency("alerts"))
        verdict = board.verdict("alerts")
        if verdict is not None:
            return jsonify(status="error", message=f"injected {verdict}"), 503 if verdict == "outage" else 500
        event = json_body()
        reason = problem(event)
        if reason is not None:
            return jsonify(status="invalid event", message="Event object is invalid", errors=[reason]), 400
        log.add(event)
        return jsonify(status="success", message="Event processed", dedup_key=event.get("dedup_key")), 202

    @bp.get("/admin/alerts")
    def alerts():  # type: ignore[no-untyped-def]
        return jsonify(log.all())

    return bp
