"""Notifications end to end: real providers in the sandbox, states read back through the API."""

from __future__ import annotations

import uuid

from devtools.stack import poll_until
from tests.integration.notifications import ADA, ALAN, Sandbox, send, states, wait_settled
from tests.integration.support import log_lines


def test_every_enabled_channel_reaches_its_provider_with_the_request_id(stack):
    message_id = send(stack, ADA, request_id="it-notify-all")

    record = wait_settled(stack, [message_id])[message_id]

    assert states(record) == {"push": "sent", "email": "sent", "sms": "sent"}
    assert all(state["attempts"] == 1 and state["last_error"] is None for state in record["channels"].values())
    deliveries = Sandbox(stack).deliveries(request_id="it-notify-all")
    assert sorted(delivery["channel"] for delivery in deliveries) == ["email", "push", "sms"]


def test_user_with_sms_off_gets_push_and_email_and_the_sms_task_warns(stack):
    message_id = send(stack, ALAN, request_id="it-sms-off")

    record = wait_settled(stack, [message_id])[message_id]

    assert states(record) == {"push": "sent", "email": "sent", "sms": "skipped"}
    assert sorted(d["channel"] for d in Sandbox(stack).deliveries(request_id="it-sms-off")) == ["email", "push"]
    warning = poll_until(lambda: [line for _, line in log_lines(stack, "it-sms-off")
                                  if "User 2 has SMS notifications disabled" in line], "the SMS task's warning")
    assert len(warning) == 1
    assert " WARNING " in warning[0] and "rid=it-sms-off " in warning[0]
    assert "task=it-sms-off_" in warning[0]


def test_bodies_addresses_and_numbers_never_reach_the_logs(stack):
    secret = f"secret-body-{uuid.uuid4().hex}"
    message_id = send(stack, ADA, body=secret, request_id="it-private")
    wait_settled(stack, [message_id])

    lines = poll_until(lambda: log_lines(stack, "it-private"), "log lines of the request")
    every_line = "\n".join(path.read_text() for path in stack.log_dir.glob("*.log"))
    assert len(lines) > 5
    for personal in (secret, "ada@example.com", "+15550100001", "demo-device-ada"):
        assert personal not in every_line
