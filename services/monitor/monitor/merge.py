"""Merge Celery events into task, attempt, request and worker rows.

Events arrive late, out of order and, after a crash before an ack, twice. Every rule here is
therefore idempotent and order-tolerant: times keep the earliest (or, for a finish, the one
recorded), and an attempt's state only moves forward (a late ``task-started`` never turns a
SUCCESS back into STARTED). A retry keeps its task ID, so each try is an attempt of its own:
``task-sent`` and ``task-received`` name it (``retries``); the worker's later events for the
same try come from the same worker process, after its ``task-received``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from threadline.ids import is_valid_request_id, request_id_for_task, request_id_from_task_id
from threadline.redaction import redact
from threadline.request_events import REQUEST_EVENT

from monitor.attempts import STATES, Row, advance, attempt_for, clipped

FINAL = frozenset({"SUCCESS", "FAILURE", "REVOKED", "REJECTED"})
WAITING = frozenset({"PENDING", "RECEIVED"})
TRACEBACK_CHARS = 8_000


@dataclass
class Batch:
    """Rows touched by one batch of events: loaded first, merged in place, then stored."""

    tasks: dict[str, Row] = field(default_factory=dict)
    attempts: dict[str, dict[int, Row]] = field(default_factory=dict)
    requests: dict[str, Row] = field(default_factory=dict)
    workers: dict[str, Row] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    # Each loaded task's state before this batch: what a batch changed is what it alerts on.
    previous: dict[str, str] = field(default_factory=dict)
    dropped: int = 0


def task_ids_of(events: list[Row]) -> set[str]:
    """The tasks a batch touches and their parents (a canvas task inherits its parent's request)."""
    ids: set[str] = set()
    for event in events:
        for key in ("uuid", "parent_id"):
            if isinstance(event.get(key), str):
                ids.add(event[key])
    return ids


def apply(batch: Batch, event: Row) -> None:
    """Merge one event into ``batch``; a malformed one is counted and dropped. Then ``summarise``."""
    kind = event.get("type")
    try:
        if kind in STATES:
            _task_event(batch, event, kind)
        elif kind == REQUEST_EVENT:
            _request_event(batch, event)
        elif isinstance(kind, str) and kind.startswith("worker-"):
            _worker_event(batch, event, kind)
        else:
            batch.dropped += 1
    except (TypeError, ValueError, KeyError):
        batch.dropped += 1


def _timestamp(event: Row) -> float:
    value = event["timestamp"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("timestamp")
    return float(value)


def _task_event(batch: Batch, event: Row, kind: str) -> None:
    task_id, at = event["uuid"], _timestamp(event)
    if not isinstance(task_id, str) or not task_id or len(task_id) > 200:
        raise ValueError("uuid")
    task = batch.tasks.get(task_id) or _new_task(batch, task_id, event)
    batch.tasks[task_id] = task
    for column in ("name", "parent_id", "root_id", "queue"):
        if task[column] is None:
            task[column] = clipped(event.get(column), 200)
    attempts = batch.attempts.setdefault(task_id, {})
    attempt = attempt_for(attempts, kind, event, at)
    advance(attempt, kind, event, at)
    traceback = _tail(event.get("traceback"), TRACEBACK_CHARS) if kind == "task-failed" else None
    if traceback and task["traceback"] is None:
        task["traceback"] = redact(traceback)
    batch.touched.add(task_id)
    _seen(batch, task["request_id"], at)


def _tail(value: object, limit: int) -> str | None:
    # A traceback's last lines name the exception: cut from its start.
    if not isinstance(value, str) or not value:
        return None
    return value if len(value) <= limit else "...\n" + value[-limit:]


def _new_task(batch: Batch, task_id: str, event: Row) -> Row:
    return {
        "task_id": task_id, "request_id": _request_id(batch, task_id, event), "name": None, "parent_id": None,
        "root_id": None, "queue": None, "worker": None, "state": "PENDING", "retries": 0, "sent_at": None,
        "received_at": None, "started_at": None, "finished_at": None, "runtime_ms": None, "queue_wait_ms": None,
        "exception": None, "traceback": None,
    }


def _request_id(batch: Batch, task_id: str, event: Row) -> str:
    # Our task IDs start with the request ID. A canvas task's own ID does not: it carries the
    # request ID in a header that events leave out, so it belongs to its parent's request.
    from_id = request_id_from_task_id(task_id)
    if from_id is not None:
        return from_id
    for key in ("parent_id", "root_id"):
        related = batch.tasks.get(event.get(key))  # type: ignore[arg-type]
        if related is not None:
            return str(related["request_id"])
    return request_id_for_task(task_id, None)


def summarise(batch: Batch) -> None:
    """Derive each touched task's row from its attempts; call once after the batch's events."""
    for task_id in batch.touched:
        task = batch.tasks[task_id]
        _summarise(task, batch.attempts[task_id])
        # The request's count of failed tasks moves when this batch moved the task in or out.
        was, now = batch.previous.get(task_id) == "FAILURE", task["state"] == "FAILURE"
        if was != now:
            batch.requests[task["request_id"]]["failures"] += 1 if now else -1


def _summarise(task: Row, attempts: dict[int, Row]) -> None:
    ordered = [attempts[n] for n in sorted(attempts)]
    last = ordered[-1]
    final = [a for a in ordered if a["state"] in FINAL]
    if final:
        task["state"] = final[-1]["state"]
    elif last["state"] in WAITING and any(a["state"] == "RETRY" for a in ordered):
        task["state"] = "RETRY"  # waiting for its next try
    else:
        task["state"] = last["state"]
    task["retries"] = max(attempts) - 1
    task["sent_at"] = _first(a["sent_at"] for a in ordered)
    task["received_at"] = _first(a["received_at"] for a in ordered)
    task["started_at"] = _first(a["started_at"] for a in ordered)
    task["finished_at"] = final[-1]["finished_at"] if final else None
    task["worker"] = next((a["worker"] for a in reversed(ordered) if a["worker"]), None)
    runtimes = [a["runtime_ms"] for a in ordered if a["runtime_ms"] is not None]
    task["runtime_ms"] = sum(runtimes) if runtimes else None
    queued = task["sent_at"] if task["sent_at"] is not None else task["received_at"]
    started = task["started_at"]
    task["queue_wait_ms"] = max(0.0, (started - queued) * 1000) if started is not None and queued is not None else None
    failed = final[-1] if final and final[-1]["state"] == "FAILURE" else None
    task["exception"] = failed["exception"] if failed else None


def _first(values: Any) -> float | None:
    present = [value for value in values if value is not None]
    return min(present) if present else None


def _seen(batch: Batch, request_id: str, at: float) -> Row:
    row = batch.requests.get(request_id)
    if row is None:
        row = batch.requests[request_id] = {
            "request_id": request_id, "method": None, "path": None, "status": None, "duration_ms": None,
            "started_at": None, "first_seen_at": at, "last_seen_at": at, "failures": 0,
        }
    row["first_seen_at"] = min(row["first_seen_at"], at)
    row["last_seen_at"] = max(row["last_seen_at"], at)
    return row


def _request_event(batch: Batch, event: Row) -> None:
    request_id, started = event["request_id"], float(event["started"])
    if not is_valid_request_id(request_id):
        raise ValueError("request_id")
    row = _seen(batch, request_id, started)
    row["last_seen_at"] = max(row["last_seen_at"], _timestamp(event))
    row.update(
        method=clipped(event.get("method"), 10), path=clipped(event.get("path"), 300), status=int(event["status"]),
        duration_ms=float(event["duration_ms"]), started_at=started,
    )


def _worker_event(batch: Batch, event: Row, kind: str) -> None:
    hostname, at = clipped(event["hostname"], 200), _timestamp(event)
    if hostname is None:
        raise ValueError("hostname")
    row = batch.workers.get(hostname)
    if row is not None and row["last_seen_at"] > at:
        return  # an older heartbeat than the one already merged
    batch.workers[hostname] = {
        "hostname": hostname, "online": 0 if kind == "worker-offline" else 1, "last_seen_at": at,
        "active": event.get("active") if isinstance(event.get("active"), int) else None,
        "processed": event.get("processed") if isinstance(event.get("processed"), int) else None,
    }
