"""Failure alerts, shaped as PagerDuty Events API v2 ``trigger`` events, written to an outbox.

A task whose final state becomes FAILURE in a batch (never a retry) raises an alert under the
dedup key ``<task name>:<YYYY-MM-DDTHH>`` (UTC hour of the failure). The row is written in the
batch's own transaction and keyed by that dedup key: a key is stored once, however often the
batch is replayed and however many monitors run; later failures under it count as repeats.
``alert_delivery`` sends the rows.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection
from threadline.redaction import redact

from monitor.config import Settings
from monitor.merge import Batch, Row
from monitor.tables import alerts

SUMMARY_CHARS = 1024


def dedup_key(task_name: str, failed_at: float) -> str:
    return f"{task_name}:{datetime.fromtimestamp(failed_at, UTC).strftime('%Y-%m-%dT%H')}"


def exception_type(exception: str | None) -> str:
    """``MalformedFile`` of ``MalformedFile('line 3: ...')``."""
    return (exception or "").split("(", 1)[0].strip() or "UnknownError"


def new_failures(batch: Batch) -> list[Row]:
    """The tasks this batch turned into FAILURE."""
    return [
        batch.tasks[task_id] for task_id in sorted(batch.touched)
        if batch.tasks[task_id]["state"] == "FAILURE" and batch.previous.get(task_id) != "FAILURE"
    ]


def event(task: Row, settings: Settings) -> tuple[str, dict[str, Any]]:
    """The dedup key and the v2 trigger event for the failed ``task``."""
    failed_at = (task["finished_at"] or time.time()) + settings.clock_offset
    name, kind = task["name"] or "unknown task", exception_type(task["exception"])
    key = dedup_key(name, failed_at)
    exception = redact(task["exception"] or "")
    return key, {
        "routing_key": settings.alert_routing_key,
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {
            "summary": f"{name} failed: {exception}"[:SUMMARY_CHARS],
            "source": task["worker"] or "unknown worker",
            "severity": "error",
            "timestamp": datetime.fromtimestamp(failed_at, UTC).isoformat(timespec="milliseconds"),
            "component": name,
            "class": kind,
            "custom_details": {
                "request_id": task["request_id"], "task_id": task["task_id"], "retries": task["retries"],
                "exception": exception,
            },
        },
        "links": [{"href": f"{settings.public_url}/traces/{task['request_id']}",
                   "text": f"Trace of request {task['request_id']}"}],
    }


def record(connection: Connection, batch: Batch, settings: Settings, insert: Any) -> int:
    """Write an outbox row per new failure; return how many failures it saw."""
    failures = new_failures(batch)
    now = time.time()
    for task in failures:
        key, document = event(task, settings)
        statement = insert(alerts).values(
            dedup_key=key, task_id=task["task_id"], request_id=task["request_id"],
            task_name=document["payload"]["component"], exception_type=document["payload"]["class"],
            payload=json.dumps(document), state="pending", attempts=0, repeats=0, next_attempt_at=now,
            last_error=None, created_at=now, sent_at=None,
        )
        connection.execute(statement.on_conflict_do_update(
            index_elements=["dedup_key"], set_={"repeats": alerts.c.repeats + 1}))
    return len(failures)
