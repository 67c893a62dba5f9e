"""Retries in the trace, on the PostgreSQL stack (short retries): one attempt per try, one task ID."""

from __future__ import annotations

from tests.integration.monitor import CHANNEL_TASKS, FAN_OUT, settled, tasks_by_name, wait_trace
from tests.integration.notifications import ADA, Sandbox, send


def test_a_retried_channel_shows_each_attempt_under_one_task(pg_stack):
    # An outage shorter than the retry budget: push fails a few times, then delivers.
    Sandbox(pg_stack).set_faults("push", outage_seconds=1.5)
    send(pg_stack, ADA, request_id="it-mon-retry")

    document = wait_trace(pg_stack, "it-mon-retry", settled((FAN_OUT, *CHANNEL_TASKS)), "push delivered after retries")

    [push] = tasks_by_name(document)["notifier.send_push"]
    attempts = push["attempts"]
    assert push["retries"] >= 1 and len(attempts) == push["retries"] + 1
    assert [attempt["attempt"] for attempt in attempts] == list(range(1, len(attempts) + 1))
    assert [attempt["state"] for attempt in attempts] == ["RETRY"] * (len(attempts) - 1) + ["SUCCESS"]
    # Each retried attempt shows why it failed (the notifier retries with AttemptFailed(reason)).
    assert all("HTTP 503" in attempt["exception"] for attempt in attempts[:-1]), attempts
    starts = [attempt["started_at"] for attempt in attempts]
    assert starts == sorted(starts) and push["finished_at"] == attempts[-1]["finished_at"]
    for name in ("notifier.send_email", "notifier.send_sms"):
        [other] = tasks_by_name(document)[name]
        assert other["retries"] == 0 and len(other["attempts"]) == 1
