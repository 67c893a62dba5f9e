"""A broker under a memory alarm takes a POST's message but never confirms it: the POST still
answers 202 within a few seconds, and the relay publishes the message once the alarm clears.

The stack runs on a private RabbitMQ node, so its alarm blocks nobody else.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from devtools.private_rabbit import PrivateRabbit, _command
from devtools.stack import poll_until
from tests.integration.notifications import ALAN, Sandbox

pytestmark = pytest.mark.chaos
# Two attempts that each wait CONFIRM_TIMEOUT_SECONDS (2 s) for the confirm, plus slack.
MOST_A_POST_TAKES = 8.0


def set_watermark(node: PrivateRabbit, fraction: str) -> None:
    subprocess.run([_command("rabbitmqctl"), "-n", node.node, "set_vm_memory_high_watermark", fraction],
                   env=node.env, capture_output=True, check=True, timeout=60)


def alarm_raised(node: PrivateRabbit) -> bool:
    # check_alarms fails while any alarm is in effect.
    return subprocess.run([_command("rabbitmq-diagnostics"), "-n", node.node, "check_alarms"], env=node.env,
                          capture_output=True, timeout=60).returncode != 0


def test_a_post_is_not_held_by_a_broker_under_a_memory_alarm(rabbit_and_stack):
    node, stack = rabbit_and_stack
    set_watermark(node, "0")
    poll_until(lambda: alarm_raised(node), "memory alarm raised", timeout=60)
    request_id = f"it-alarm-{uuid.uuid4().hex[:8]}"

    started = time.monotonic()
    response = requests.post(f"{stack.api_url}/api/message/", json={"sender": 1, "recipient": ALAN,
                             "body": "under alarm"}, headers={"X-Request-ID": request_id}, timeout=60)
    took = time.monotonic() - started

    assert response.status_code == 202, response.text
    assert took < MOST_A_POST_TAKES, f"the POST took {took:.1f} s"
    # More requests than the API's processes have pooled broker connections: none is held by
    # an earlier one's unconfirmed publish (its message, or the request event sent after it).
    with ThreadPoolExecutor(8) as pool:
        later = list(pool.map(lambda n: _timed_post(stack, f"{request_id}-{n}"), range(32)))
    assert all(status == 202 for status, _ in later), later
    assert max(took for _, took in later) < MOST_A_POST_TAKES, later
    set_watermark(node, "0.4")
    poll_until(lambda: not alarm_raised(node), "memory alarm cleared", timeout=60)
    message_id = response.json()["message_id"]
    message_url = f"{stack.api_url}/api/message/{message_id}"
    channels = poll_until(lambda: _settled(requests.get(message_url, timeout=10).json()["channels"]),
                          "the message delivered after the alarm", timeout=120)
    assert Sandbox(stack).deliveries(key=channels["push"]["idempotency_key"])


def _timed_post(stack, request_id: str) -> tuple[int, float]:
    started = time.monotonic()
    try:
        status = requests.post(f"{stack.api_url}/api/message/", json={"sender": 1, "recipient": ALAN, "body": "alarm"},
                               headers={"X-Request-ID": request_id}, timeout=30).status_code
    except requests.RequestException:
        status = 0
    return status, round(time.monotonic() - started, 1)


def _settled(channels: dict) -> dict | None:
    return channels if channels["email"]["state"] == "sent" and channels["push"]["state"] == "sent" else None
