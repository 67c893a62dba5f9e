"""merge: any order, any repetition of a task's events gives the same rows."""

from __future__ import annotations

import copy
import itertools

from monitor import merge

TASK = "demo-42_0f9c2c55-3f0e-4b8e-9a51-1d8a4c6f0b21"
WORKER = "notifier@host"


def event(kind: str, at: float, **fields: object) -> dict[str, object]:
    return {"type": kind, "uuid": TASK, "timestamp": at, **fields}


ONE_TRY = [
    event("task-sent", 10.0, name="notifier.send_push", queue="push", retries=0),
    event("task-received", 10.1, name="notifier.send_push", retries=0, hostname=WORKER),
    event("task-started", 10.2, hostname=WORKER),
    event("task-succeeded", 10.5, hostname=WORKER, runtime=0.3),
]
RETRIED = [
    event("task-sent", 10.0, name="notifier.send_push", queue="push", retries=0),
    event("task-received", 10.1, retries=0, hostname=WORKER),
    event("task-started", 10.2, hostname=WORKER),
    event("task-sent", 10.3, retries=1),
    event("task-retried", 10.31, hostname=WORKER, exception="TransientError('503')"),
    event("task-received", 10.32, retries=1, hostname=WORKER),
    event("task-started", 11.0, hostname=WORKER),
    event("task-failed", 11.2, hostname=WORKER, exception="PermanentError('400')", traceback="Traceback ...\nx@y.com"),
]


def merged(events: list[dict[str, object]], batch: merge.Batch | None = None) -> merge.Batch:
    batch = batch or merge.Batch()
    for item in events:
        merge.apply(batch, copy.deepcopy(item))
    merge.summarise(batch)
    return batch


def test_every_order_of_one_try_ends_in_success_with_the_same_times():
    expected = merged(ONE_TRY)
    assert expected.tasks[TASK]["state"] == "SUCCESS"
    for order in itertools.permutations(ONE_TRY):
        batch = merged(list(order))
        assert batch.tasks[TASK] == expected.tasks[TASK], order
        assert batch.attempts[TASK] == expected.attempts[TASK], order


def test_events_applied_twice_change_nothing():
    once = merged(RETRIED)
    twice = merged(RETRIED, merged(RETRIED))
    assert twice.tasks == once.tasks and twice.attempts == once.attempts


def test_a_retry_is_one_attempt_per_try_under_one_task():
    batch = merged(RETRIED)
    task, attempts = batch.tasks[TASK], batch.attempts[TASK]
    assert task["state"] == "FAILURE" and task["retries"] == 1
    assert [attempts[n]["state"] for n in sorted(attempts)] == ["RETRY", "FAILURE"]
    assert attempts[1]["exception"] == "TransientError('503')"
    assert task["exception"] == "PermanentError('400')" and "[redacted]" in task["traceback"]
    assert task["finished_at"] == 11.2 and task["request_id"] == "demo-42"


def test_waiting_for_the_next_try_shows_retry():
    assert merged(RETRIED[:5]).tasks[TASK]["state"] == "RETRY"


def test_malformed_events_are_counted_and_dropped():
    batch = merged([{"type": "task-sent"}, {"type": "task-started", "uuid": TASK, "timestamp": "soon"},
                    {"type": "something-else", "timestamp": 1}, {"no": "type"}])
    assert batch.dropped == 4 and not batch.tasks


def test_a_long_traceback_keeps_its_last_lines_which_name_the_exception():
    long = "Traceback (most recent call last):\n" + "  frame\n" * 2_000 + "ValueError: the reason"
    failed = [*ONE_TRY[:3], event("task-failed", 10.5, hostname=WORKER, exception="ValueError('the reason')",
                                  traceback=long)]

    traceback = merged(failed).tasks[TASK]["traceback"]

    assert traceback.endswith("ValueError: the reason") and len(traceback) <= merge.TRACEBACK_CHARS + 4
