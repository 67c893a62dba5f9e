"""The broker stopped and restarted during a burst of POSTs: every 202 is delivered, once.

The stack runs on a private RabbitMQ node, so stopping it disturbs nobody else.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import requests

from devtools.stack import poll_until
from tests.integration.notifications import ADA, ENABLED, Sandbox, message, wait_settled

pytestmark = pytest.mark.chaos


def test_every_accepted_message_is_delivered_exactly_once_across_a_broker_restart(rabbit_and_stack):
    node, stack = rabbit_and_stack
    tag = uuid.uuid4().hex[:8]
    outcomes: list[tuple[int, int | None, float]] = []  # (status, message id, when)
    done = threading.Event()
    poster = threading.Thread(target=_burst, args=(stack, tag, outcomes, done), daemon=True)

    poster.start()
    poll_until(lambda: len(outcomes) >= 10, "ten POSTs before the broker stops", timeout=60)
    node.stop()
    stopped_at = time.monotonic()
    poll_until(lambda: len(outcomes) >= 25, "POSTs while the broker is down", timeout=120)
    down_posts = [o for o in outcomes if o[2] > stopped_at]
    node.start()
    done.set()
    poster.join(timeout=120)

    accepted = [message_id for status, message_id, _ in outcomes if status == 202]
    assert any(status == 202 for status, _, _ in down_posts), "no POST was accepted while the broker was down"
    records = wait_settled(stack, accepted, timeout=300)
    assert all(record["channels"][channel]["state"] == "sent"
               for record in records.values() for channel in ENABLED[ADA])
    assert all(message(stack, message_id)["published"] for message_id in accepted)
    counts = Sandbox(stack).delivery_counts({int(d["key"].split("-")[1]) for d in Sandbox(stack).deliveries()})
    assert set(counts) == {(message_id, channel) for message_id in accepted for channel in ENABLED[ADA]}
    assert set(counts.values()) == {1}


def _burst(stack, tag, outcomes, done):
    """POST one message every 0.2 s until told to stop (and at least 40)."""
    n = 0
    while not done.is_set() or n < 40:
        try:
            response = requests.post(
                f"{stack.api_url}/api/message/", json={"sender": ADA, "recipient": ADA, "body": f"burst {n}"},
                headers={"X-Request-ID": f"it-burst-{tag}-{n}"}, timeout=60,
            )
            message_id = response.json().get("message_id") if response.status_code == 202 else None
            outcomes.append((response.status_code, message_id, time.monotonic()))
        except requests.RequestException:
            outcomes.append((0, None, time.monotonic()))
        n += 1
        time.sleep(0.2)
