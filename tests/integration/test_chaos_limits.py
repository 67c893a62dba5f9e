"""Providers slower than the notifier waits: past the call's timeout, past the task's hard time
limit, and past it on every delivery (a poison message, dead-lettered and re-driven).

Each test has a stack of its own with short limits, so a limit is reached in seconds.
"""

from __future__ import annotations

import uuid

import pytest

from devtools.stack import poll_until
from tests.integration.deadletters import dead_letters, redrive
from tests.integration.notifications import ADA, FAST_RETRIES, Sandbox, check_effects, send, states, wait_settled

pytestmark = pytest.mark.chaos


def _count(stack, text, rid_prefix=""):
    return sum(1 for line in (stack.log_dir / "notifier.log").read_text().splitlines()
               if text in line and rid_prefix in line)


def test_provider_slower_than_its_timeout_is_retried_and_http_channels_deliver_once(start_stack):
    stack = start_stack(PROVIDER_TIMEOUT_SECONDS="1", **FAST_RETRIES)
    sandbox = Sandbox(stack)
    sandbox.set_faults("all", latency_ms=1500)
    sent = {f"it-timeout-{uuid.uuid4().hex[:8]}-{n}": ADA for n in range(6)}
    ids = [send(stack, ADA, request_id=request_id) for request_id in sent]

    poll_until(lambda: _count(stack, "unreachable: ReadTimeout") >= 2, "provider calls timed out", timeout=60)
    sandbox.set_faults("all")
    records = wait_settled(stack, ids, timeout=180)

    assert all(states(record) == {"push": "sent", "email": "sent", "sms": "sent"} for record in records.values())
    duplicates = check_effects(sandbox, sent)
    print(f"provider slower than its timeout: {duplicates} of {len(sent)} e-mails arrived twice")


@pytest.fixture(scope="module")
def limited_stack(start_stack):
    """A stack whose channel tasks are ended after 2 s, and dead-lettered after 2 returns; no
    soft limit, as for a call that cannot be interrupted."""
    return start_stack(NOTIFIER_SOFT_TIME_LIMIT_SECONDS="0", NOTIFIER_TIME_LIMIT_SECONDS="2",
                       TASK_DELIVERY_LIMIT="2", **FAST_RETRIES)


def test_task_past_its_hard_time_limit_is_redelivered_and_delivers_once(limited_stack):
    sandbox = Sandbox(limited_stack)
    sandbox.set_faults("push", latency_ms=3000)
    sent = {f"it-hard-{uuid.uuid4().hex[:8]}-{n}": ADA for n in range(2)}
    ids = [send(limited_stack, ADA, request_id=request_id) for request_id in sent]

    poll_until(lambda: _count(limited_stack, "Hard time limit (2.0s) exceeded for notifier.send_push") >= 1,
               "a push task past its hard time limit", timeout=60)
    sandbox.set_faults("all")
    records = wait_settled(limited_stack, ids, timeout=180)

    assert all(states(record)["push"] == "sent" for record in records.values())
    check_effects(sandbox, sent)


def test_message_past_the_hard_limit_on_every_delivery_is_dead_lettered_then_redriven(limited_stack):
    sandbox = Sandbox(limited_stack)
    sandbox.set_faults("push", latency_ms=3000)
    request_id = f"it-poison-limit-{uuid.uuid4().hex[:8]}"
    message_id = send(limited_stack, ADA, request_id=request_id)

    letters = poll_until(lambda: [d for d in dead_letters(limited_stack) if d["id"].startswith(f"{request_id}_")],
                         "the push task in the dead-letter queue", timeout=120)
    assert letters[0]["queue"] == "push" and letters[0]["reason"] == "delivery_limit", letters
    hits = _count(limited_stack, "Hard time limit (2.0s) exceeded for notifier.send_push", request_id)
    assert hits >= 3, f"dead-lettered after {hits} deliveries; the limit is 2 returns"

    sandbox.set_faults("all")
    assert redrive(limited_stack) >= 1
    record = wait_settled(limited_stack, [message_id], timeout=120)[message_id]
    assert states(record) == {"push": "sent", "email": "sent", "sms": "sent"}
    check_effects(sandbox, {request_id: ADA})
