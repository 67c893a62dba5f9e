"""A Celery whose internals threadline wraps are missing or changed: the worker runs, warns once
at start, and falls back to public signals, so every line of a task still carries its IDs."""

from __future__ import annotations

import sys
from typing import Any

from threadline import internals, request_context

TIMEOUT = 90


def test_changed_internals_fall_back_to_public_signals(stack: Any, caller: Any) -> None:
    stack.start([sys.executable, "-m", "celery", "-A", "tl_changed", "worker", "-P", stack.pool, "-c", "2",
                 "-Q", "internals", "-n", "changed@%h", "-l", "INFO", "--without-gossip", "--without-mingle"],
                process="changed", ready=" ready.")
    with request_context("req-changed"):
        result = caller.echo.apply_async(("moved",), queue="internals")
        failed = caller.fail.apply_async(("on purpose",), queue="internals")
    assert result.get(timeout=TIMEOUT) == "moved"
    stack.logs.wait_for("changed", lambda r: f"[{failed.id}] raised" in r["message"], "the failure")
    records = stack.logs.records("changed")
    warnings = [r for r in records if r["message"].startswith("threadline: Celery")]
    assert len(warnings) == 1, warnings
    for internal in (internals.REQUEST_STACK, internals.STRATEGY, internals.REQUEST_CLASS, internals.TASK_STACK):
        assert internal in warnings[0]["message"]
    [line] = [r for r in records if r["message"] == "echo moved"]
    assert (line["request_id"], line["task_id"]) == ("req-changed", result.id)
    [received] = [r for r in records if f"[{result.id}] received" in r["message"]]
    assert received["request_id"] == "req-changed"
    assert failed.state == "FAILURE"
