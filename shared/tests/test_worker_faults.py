"""Time limits, lost pool processes and revocation: Celery's outcome, and IDs in its lines."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest
from celery.exceptions import TimeLimitExceeded
from threadline import request_context

TIMEOUT = 90


def test_soft_time_limit_is_raised_in_the_task(stack: Any, caller: Any) -> None:
    with request_context("req-soft"):
        result = caller.soft_limited.delay()
    assert result.get(timeout=TIMEOUT) == "cleaned up"
    records = stack.logs.of_task("caller", result.id)
    soft = [r for r in records if "Soft time limit (1s) exceeded" in r["message"]]
    assert len(soft) == 1 and all(r["request_id"] == "req-soft" for r in records)


def test_hard_time_limit_fails_the_task_and_the_main_process_line_carries_the_ids(stack: Any, caller: Any) -> None:
    with request_context("req-hard"):
        result = caller.hard_limited.delay()
    with pytest.raises(TimeLimitExceeded):
        result.get(timeout=TIMEOUT)
    [line] = stack.logs.wait_for("caller", lambda r: "Hard time limit (2s) exceeded" in r["message"]
                                 and result.id in r["message"], "hard time limit line")
    assert line["request_id"] == "req-hard" and line["task_id"] == result.id


def test_killed_pool_process_is_reported_with_the_ids_and_the_task_redelivered(stack: Any, caller: Any) -> None:
    with request_context("req-lost"):
        result = caller.sleepy.delay(4)
    [started] = stack.logs.wait_for("caller", lambda r: r["task_id"] == result.id and "sleepy in pid" in r["message"],
                                    "sleepy started")
    os.kill(int(started["message"].rsplit(" ", 1)[1]), signal.SIGKILL)  # a pool child of our worker
    [lost] = stack.logs.wait_for("caller", lambda r: "WorkerLostError" in r["message"] and r["task_id"] == result.id,
                                 "lost line")
    assert lost["request_id"] == "req-lost"
    # acks_late + reject_on_worker_lost: the message is redelivered and the task completes.
    assert result.get(timeout=TIMEOUT) == "rested"


def test_revoke_with_terminate(stack: Any, caller: Any) -> None:
    with request_context("req-revoke"):
        result = caller.sleepy.delay(30)
    stack.logs.wait_for("caller", lambda r: r["task_id"] == result.id and "sleepy in pid" in r["message"],
                        "sleepy started")
    result.revoke(terminate=True)
    stack.logs.wait_for("caller", lambda r: "Terminating" in r["message"] and result.id in r["message"],
                        "terminate line")
    stack.poll_until(lambda: result.state == "REVOKED", "REVOKED state")
    lines = stack.logs.of_task("caller", result.id)
    assert all(r["request_id"] == "req-revoke" for r in lines), lines
