"""What the notification tests share: the sandbox seen from outside, messages, a PostgreSQL DB."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import requests

from devtools.stack import Stack, poll_until

CHANNELS = ("push", "email", "sms")
# A channel in one of these states is never attempted again; `pending` and `sending` are not.
FINAL = ("sent", "failed", "skipped")
# The demo users every stack is seeded with, and the channels each has turned on.
ADA, ALAN = 1, 2
ENABLED = {ADA: ("push", "email", "sms"), ALAN: ("push", "email")}
# Retry settings that keep fault tests short: waits of at most 0.2, 0.4 ... 2 s. Ten attempts:
# at a 30 % error rate one delivery in 170,000 fails them all (with six, one in 1,400, so one
# run in 19 of the 75-delivery chaos test).
FAST_RETRIES = {
    "NOTIFIER_MAX_ATTEMPTS": "10",
    "NOTIFIER_BACKOFF_BASE_SECONDS": "0.2",
    "NOTIFIER_BACKOFF_CAP_SECONDS": "2",
    "OUTBOX_GRACE_SECONDS": "3",
}


class Sandbox:
    """The sandbox's admin API: faults in, records out."""

    def __init__(self, stack: Stack) -> None:
        self.url = f"http://127.0.0.1:{stack.env['SANDBOX_HTTP_PORT']}/admin"

    def set_faults(self, channel: str = "all", **faults: float) -> None:
        requests.post(f"{self.url}/faults", json={"channel": channel, **faults}, timeout=10).raise_for_status()

    def deliveries(self, **match: str) -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/deliveries", params=match, timeout=10)
        response.raise_for_status()
        return response.json()

    def requests(self, **match: str) -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/requests", params=match, timeout=10)
        response.raise_for_status()
        return response.json()

    def effects(self, request_ids: set[str]) -> Counter[tuple[str, str]]:
        """How many deliveries each (request, channel) made at its provider: every request
        the HTTP providers answered with a new delivery, every mail the SMTP sink stored.

        Counted by the request ID each call carried, not by idempotency key, so a delivery
        repeated under another key counts twice."""
        counts: Counter[tuple[str, str]] = Counter()
        for entry in self.requests(outcome="delivered"):
            if entry["request_id"] in request_ids:
                counts[(entry["request_id"], entry["channel"])] += 1
        return counts

    def duplicates(self) -> dict[str, int]:
        """Message-IDs the SMTP sink stored more than once."""
        response = requests.get(f"{self.url}/duplicates", timeout=10)
        response.raise_for_status()
        return response.json()


def check_effects(sandbox: Sandbox, sent: dict[str, int]) -> int:
    """Assert every enabled channel of each request in ``sent`` (request ID -> recipient) made
    its effect, HTTP channels exactly once; return how many e-mails arrived more than once."""
    counts = sandbox.effects(set(sent))
    expected = {(request_id, channel) for request_id, recipient in sent.items() for channel in ENABLED[recipient]}
    assert set(counts) == expected, f"missing: {expected - set(counts)}, unexpected: {set(counts) - expected}"
    http_repeats = {key: n for key, n in counts.items() if key[1] != "email" and n > 1}
    assert not http_repeats, f"HTTP deliveries made more than once: {http_repeats}"
    email_repeats = sum(n - 1 for key, n in counts.items() if key[1] == "email")
    print(f"e-mail duplicates: {email_repeats} of {sum(1 for key in counts if key[1] == 'email')} e-mails")
    return email_repeats


def send(stack: Stack, recipient: int, body: str = "hello there", request_id: str | None = None) -> int:
    """POST a message from Ada to ``recipient``; return its ID (fails unless 202)."""
    request_id = request_id or f"it-{uuid.uuid4().hex[:12]}"
    response = requests.post(
        f"{stack.api_url}/api/message/", json={"sender": ADA, "recipient": recipient, "body": body},
        headers={"X-Request-ID": request_id}, timeout=30,
    )
    assert response.status_code == 202, response.text
    return response.json()["message_id"]


def message(stack: Stack, message_id: int) -> dict[str, Any]:
    response = requests.get(f"{stack.api_url}/api/message/{message_id}", timeout=10)
    response.raise_for_status()
    return response.json()


def wait_settled(stack: Stack, message_ids: list[int], timeout: float = 180) -> dict[int, dict[str, Any]]:
    """Poll GET /api/message/<id> until every channel of every message is final (a channel
    `sending` an e-mail is still under way: its worker may yet be killed and its task redelivered)."""
    settled: dict[int, dict[str, Any]] = {}

    def all_settled() -> bool:
        for message_id in message_ids:
            if message_id not in settled:
                record = message(stack, message_id)
                if all(state["state"] in FINAL for state in record["channels"].values()):
                    settled[message_id] = record
        return len(settled) == len(message_ids) or f"{len(message_ids) - len(settled)} not final yet"  # type: ignore[return-value]

    poll_until(lambda: all_settled() is True, "every channel settled", timeout=timeout, interval=1)
    return settled


def states(record: dict[str, Any]) -> dict[str, str]:
    return {channel: state["state"] for channel, state in record["channels"].items()}
