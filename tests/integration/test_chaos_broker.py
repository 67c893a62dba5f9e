"""The broker killed (SIGKILL) and started again during a burst of POSTs: every 202 is
delivered, each HTTP channel once; and a file accepted while the broker is away is processed.

The stack runs on a private RabbitMQ node, so killing it disturbs nobody else.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from devtools.stack import Stack, poll_until
from tests.integration.notifications import (
    ADA,
    ENABLED,
    Sandbox,
    check_effects,
    message,
    wait_settled,
)
from tests.integration.test_files import upload, wait_finished

pytestmark = pytest.mark.chaos


def test_every_accepted_message_is_delivered_across_a_broker_killed_with_sigkill(rabbit_and_stack):
    node, stack = rabbit_and_stack
    tag = uuid.uuid4().hex[:8]
    outcomes: list[tuple[int, int | None, float, str]] = []  # (status, message id, when, request id)
    done = threading.Event()
    poster = threading.Thread(target=_burst, args=(stack, tag, outcomes, done), daemon=True)

    poster.start()
    poll_until(lambda: len(outcomes) >= 10, "ten POSTs before the broker stops", timeout=60)
    node.kill()
    stopped_at = time.monotonic()
    poll_until(lambda: len(outcomes) >= 25, "POSTs while the broker is down", timeout=120)
    down_posts = [o for o in outcomes if o[2] > stopped_at]
    _sync_upload_is_refused_and_leaves_nothing(stack, tag)
    file_upload = upload(stack, f"it-file-broker-down-{tag}", "a,b\n1,2\n")
    assert file_upload.status_code == 202, file_upload.text
    node.start()
    done.set()
    poster.join(timeout=120)

    accepted = {request_id: message_id for status, message_id, _, request_id in outcomes if status == 202}
    assert any(status == 202 for status, _, _, _ in down_posts), "no POST was accepted while the broker was down"
    records = wait_settled(stack, list(accepted.values()), timeout=300)
    assert all(record["channels"][channel]["state"] == "sent"
               for record in records.values() for channel in ENABLED[ADA])
    assert all(message(stack, message_id)["published"] for message_id in accepted.values())
    duplicates = check_effects(Sandbox(stack), dict.fromkeys(accepted, ADA))
    record = wait_finished(stack, file_upload.json()["file_id"], timeout=120)
    assert record["status"] == "succeeded" and record["result"]["rows"] == 1, record
    print(f"broker killed: {len(down_posts)} POSTs while it was down; {duplicates} e-mail duplicates")


def _sync_upload_is_refused_and_leaves_nothing(stack: Stack, tag: str) -> None:
    # A header check needs the processor's answer, which cannot come without a broker: the
    # client is told so at once, and the upload is not kept.
    store = Path(stack.env["FILE_STORE"])
    before = set(store.glob("*"))
    refused = upload(stack, f"it-file-sync-broker-down-{tag}", "a,b\n1,2\n", validate="sync")
    assert refused.status_code == 503, refused.text
    assert refused.headers["Content-Type"] == "application/json"
    assert refused.json()["error"].startswith("The broker is unreachable"), refused.text
    assert set(store.glob("*")) == before


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
            outcomes.append((response.status_code, message_id, time.monotonic(), f"it-burst-{tag}-{n}"))
        except requests.RequestException:
            outcomes.append((0, None, time.monotonic(), f"it-burst-{tag}-{n}"))
        n += 1
        time.sleep(0.2)
