"""One attempt row per try of a task: which try an event belongs to, and how it moves that try.

``task-sent`` and ``task-received`` name their try (``retries``); a worker's later events for
the same try come from the same worker process, after its ``task-received``, and one seen
again lands where it landed the first time. Within a try a state only moves forward.
"""

from __future__ import annotations

from typing import Any

from threadline.redaction import redact

Row = dict[str, Any]

STATES = {
    "task-sent": "PENDING",
    "task-received": "RECEIVED",
    "task-started": "STARTED",
    "task-retried": "RETRY",
    "task-succeeded": "SUCCESS",
    "task-failed": "FAILURE",
    "task-revoked": "REVOKED",
    "task-rejected": "REJECTED",
}
# Within one attempt a state only moves up this order; the last rank ends the attempt.
RANK = {"PENDING": 0, "RECEIVED": 1, "STARTED": 2, "RETRY": 3, "SUCCESS": 3, "FAILURE": 3, "REVOKED": 3, "REJECTED": 3}
EXCEPTION_CHARS = 2_000


def clipped(value: object, limit: int) -> str | None:
    """A non-empty string cut to ``limit`` characters; None for anything else."""
    return value[:limit] if isinstance(value, str) and value else None


def attempt_for(attempts: dict[int, Row], kind: str, event: Row, at: float) -> Row:
    retries = event.get("retries")
    if kind in ("task-sent", "task-received") and isinstance(retries, int) and retries >= 0:
        number = retries + 1
    else:
        number = _later_event_attempt(attempts, kind, event.get("hostname"), at)
    if number not in attempts:
        attempts[number] = {
            "attempt": number, "state": "PENDING", "worker": None, "sent_at": None, "received_at": None,
            "started_at": None, "finished_at": None, "runtime_ms": None, "exception": None,
        }
    return attempts[number]


def _later_event_attempt(attempts: dict[int, Row], kind: str, worker: object, at: float) -> int:
    # The same event seen again lands where it landed the first time.
    column = "started_at" if kind == "task-started" else "finished_at"
    for number, attempt in attempts.items():
        if attempt[column] == at:
            return number
    open_ = sorted(n for n, a in attempts.items() if a[column] is None and a["finished_at"] is None)
    same_worker = [n for n in open_ if attempts[n]["worker"] == worker]
    if same_worker or open_:
        return (same_worker or open_)[0]
    return max(attempts, default=1)


def advance(attempt: Row, kind: str, event: Row, at: float) -> None:
    state = STATES[kind]
    if kind == "task-rejected" and event.get("requeue"):
        state = "PENDING"  # back in the queue: the next task-received continues this attempt
    if kind == "task-sent":
        attempt["sent_at"] = _earliest(attempt["sent_at"], at)
    elif kind == "task-received":
        attempt["received_at"] = _earliest(attempt["received_at"], at)
        attempt["worker"] = attempt["worker"] or clipped(event.get("hostname"), 200)
    elif kind == "task-started":
        attempt["started_at"] = _earliest(attempt["started_at"], at)
        attempt["worker"] = attempt["worker"] or clipped(event.get("hostname"), 200)
    elif RANK[state] == 3 and attempt["finished_at"] is None:
        attempt["finished_at"] = at
        attempt["worker"] = attempt["worker"] or clipped(event.get("hostname"), 200)
        runtime = event.get("runtime")
        if isinstance(runtime, int | float) and not isinstance(runtime, bool):
            attempt["runtime_ms"] = runtime * 1000
        elif attempt["started_at"] is not None:
            attempt["runtime_ms"] = (at - attempt["started_at"]) * 1000
        exception = _exception(event)
        attempt["exception"] = redact(exception) if exception else None
    elif RANK[state] == 3:
        return  # this attempt ended already; the first ending recorded stands
    if attempt["sent_at"] is not None and attempt["received_at"] is not None:
        # Celery stamps task-sent once the broker confirmed the publish, which can be after
        # a worker received the task: the task was sent by then at the latest.
        attempt["sent_at"] = min(attempt["sent_at"], attempt["received_at"])
    if RANK[state] > RANK[attempt["state"]]:
        attempt["state"] = state


def _exception(event: Row) -> str | None:
    exception = clipped(event.get("exception"), EXCEPTION_CHARS)
    if exception not in (None, "None"):
        return exception
    # A task.retry() without exc= leaves Celery only the Retry itself ("Retry in 2s: ..."),
    # the last line of the traceback it sends.
    lines = [line for line in str(event.get("traceback") or "").splitlines() if line.strip()]
    return clipped(lines[-1].removeprefix("celery.exceptions.Retry: "), EXCEPTION_CHARS) if lines else None


def _earliest(current: float | None, at: float) -> float:
    return at if current is None else min(current, at)
