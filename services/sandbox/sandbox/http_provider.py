"""The push and SMS provider API, and the admin endpoints tests use to steer and inspect it.

POST /push and POST /sms need an ``Idempotency-Key`` header: a repeated key returns the first
result and sends nothing new. Every request is recorded with its ``X-Request-ID``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import threadline.flask
from flask import Flask, abort, jsonify, request

from sandbox import pagerduty
from sandbox.bodies import json_body
from sandbox.faults import CHANNELS, FaultBoard
from sandbox.records import Records

log = logging.getLogger(__name__)
# Which JSON field carries the address for each HTTP channel.
ADDRESS_FIELD = {"push": "device_token", "sms": "to"}


def create_app(board: FaultBoard, records: Records) -> Flask:
    app = Flask("sandbox")
    threadline.flask.init_app(app)
    threadline.flask.json_errors(app)
    app.register_blueprint(pagerduty.blueprint(board, pagerduty.AlertLog()))

    @app.post("/<channel>")
    def send(channel: str):  # type: ignore[no-untyped-def]
        if channel not in ADDRESS_FIELD:
            return jsonify(error=f"No provider endpoint /{channel}"), 404
        return _send(channel, board, records)

    @app.get("/admin/faults")
    def get_faults():  # type: ignore[no-untyped-def]
        return jsonify(board.describe())

    @app.post("/admin/faults")
    def set_faults():  # type: ignore[no-untyped-def]
        data = json_body()
        if not isinstance(data, dict):
            return jsonify(error="the body must be a JSON object"), 400
        try:
            board.set(
                str(data.get("channel", "all")),
                error_rate=float(data.get("error_rate", 0.0)),
                latency_ms=int(data.get("latency_ms", 0)),
                outage_seconds=float(data.get("outage_seconds", 0.0)),
            )
        except (TypeError, ValueError, OverflowError) as exc:
            return jsonify(error=str(exc)), 422
        log.info("Faults now %s", board.describe())
        return jsonify(board.describe())

    @app.get("/admin/requests")
    def list_requests():  # type: ignore[no-untyped-def]
        return jsonify(records.requests(_matches(request.args)))

    @app.get("/admin/deliveries")
    def list_deliveries():  # type: ignore[no-untyped-def]
        return jsonify(records.deliveries(_matches(request.args)))

    @app.get("/admin/duplicates")
    def list_duplicates():  # type: ignore[no-untyped-def]
        return jsonify(records.duplicates())

    @app.get("/health")
    def health():  # type: ignore[no-untyped-def]
        return jsonify(status="ok", channels=list(CHANNELS))

    return app


def _send(channel: str, board: FaultBoard, records: Records):  # type: ignore[no-untyped-def]
    request_id = request.headers.get("X-Request-ID")
    key = request.headers.get("Idempotency-Key")
    data = json_body()
    address = data.get(ADDRESS_FIELD[channel]) if isinstance(data, dict) else None
    if not key or not isinstance(address, str) or not isinstance(data.get("text"), str):
        records.request(channel, request_id, key, "rejected")
        return jsonify(error=f"Idempotency-Key header, {ADDRESS_FIELD[channel]} and text are required"), 400
    time.sleep(board.latency(channel))
    verdict = board.verdict(channel)
    if verdict is not None:
        records.request(channel, request_id, key, verdict)
        status = 503 if verdict == "outage" else 500
        return jsonify(error=f"injected {verdict}"), status
    delivery, replayed = records.deliver_once(channel, key, request_id, address)
    records.request(channel, request_id, key, "replayed" if replayed else "delivered")
    log.info("%s %s for key %s", channel, "replayed" if replayed else "delivered", key)
    response = jsonify(id=delivery["id"])
    response.headers["Idempotent-Replayed"] = "true" if replayed else "false"
    return response


def _matches(args: Any):  # type: ignore[no-untyped-def]
    """Exact matches on the named fields; ``since`` (epoch seconds) keeps later records only."""
    wanted = {name: args[name] for name in ("channel", "request_id", "key", "outcome") if name in args}
    try:
        since = float(args.get("since", 0))
    except ValueError:
        abort(400, description="since must be a number of seconds since the epoch")
    return lambda entry: entry["at"] >= since and all(entry.get(name) == value for name, value in wanted.items())
