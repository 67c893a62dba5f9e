"""beat gives each due task a fresh request ID, and its "Sending due task" line carries it,
whatever the scheduler class."""

from __future__ import annotations

import sys
from typing import Any

import pytest


@pytest.mark.parametrize("scheduler", ["celery.beat:PersistentScheduler", "tl_scheduler:MemoryScheduler"])
def test_beat_publishes_with_a_fresh_request_id_per_run(stack: Any, caller: Any, tmp_path: Any,
                                                        scheduler: str) -> None:
    process = f"beat-{scheduler.rsplit(':', 1)[1].lower()}"
    beat = stack.start([sys.executable, "-m", "celery", "-A", "tl_caller", "beat", "-l", "INFO", "-S", scheduler,
                        "-s", str(tmp_path / "schedule")], process=process)
    # beat keeps running until its ticks ran: it logs "Sending due task" before it publishes,
    # so stopping it at that line could stop a publish half-way.
    try:
        sent = stack.logs.wait_for(process, lambda r: "Sending due task tick" in r["message"], "two beat sends",
                                   count=2)
        rids = [r["request_id"] for r in sent]
        assert len(set(rids)) == len(rids) and "-" not in rids
        for rid in rids[:2]:
            try:
                ticks = stack.logs.wait_for("caller", lambda r, rid=rid: r["message"] == "tick"
                                            and r["request_id"] == rid, f"tick of {rid}")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n--- {process}.log ---\n{stack.logs.text(process)[-3000:]}") from None
            assert ticks[0]["task_id"].startswith(f"{rid}_")
    finally:
        stack.stop(beat)
