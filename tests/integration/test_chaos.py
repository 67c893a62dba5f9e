"""Faults a notification must survive: flaky and absent providers, notifier workers killed mid-task.

Run on the PostgreSQL stack, whose retries are short (FAST_RETRIES) so a retry budget runs
out within seconds.
"""

from __future__ import annotations

import os
import random
import re
import signal
import threading
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devtools.stack import poll_until
from tests.integration.notifications import (
    ADA,
    ALAN,
    CHANNELS,
    ENABLED,
    FAST_RETRIES,
    Sandbox,
    send,
    states,
    wait_settled,
)

pytestmark = pytest.mark.chaos
RETRY_LINE = re.compile(
    r"task=(\S+) .*attempt (\d+) of \d+ failed .*retry in ([\d.]+) s \(backoff ceiling ([\d.]+) s\)"
)


@pytest.fixture
def sandbox(pg_stack):
    """The PostgreSQL stack's sandbox, healthy again after each test."""
    client = Sandbox(pg_stack)
    yield client
    client.set_faults("all")


def test_provider_failing_30_percent_of_calls_still_delivers_everything(pg_stack, sandbox):
    sandbox.set_faults("all", error_rate=0.3)
    tag = uuid.uuid4().hex[:8]

    ids = [send(pg_stack, ADA, request_id=f"it-flaky-{tag}-{n}") for n in range(25)]
    records = wait_settled(pg_stack, ids)

    assert all(states(record) == {"push": "sent", "email": "sent", "sms": "sent"} for record in records.values())
    assert sum(state["attempts"] > 1 for record in records.values() for state in record["channels"].values()) > 0
    assert set(sandbox.delivery_counts(set(ids)).values()) == {1}
    assert len(sandbox.delivery_counts(set(ids))) == 3 * len(ids)
    retries = _retries_by_task(pg_stack, f"it-flaky-{tag}-")
    task_id, attempts = max(retries.items(), key=lambda item: len(item[1]))
    assert len(attempts) >= 2, f"no task was retried twice: {retries}"
    ceilings = [ceiling for _, _, ceiling in attempts]
    assert [number for number, _, _ in attempts] == list(range(1, len(attempts) + 1)), task_id
    assert ceilings == sorted(ceilings) and ceilings[0] < ceilings[-1], f"{task_id}: {attempts}"
    assert all(0 <= delay <= ceiling for _, delay, ceiling in attempts)


def _retries_by_task(stack, request_prefix):
    """(attempt, delay, ceiling) of each failed attempt, by task ID, from the notifier's log."""
    retries = defaultdict(list)
    for line in (stack.log_dir / "notifier.log").read_text().splitlines():
        found = RETRY_LINE.search(line)
        if found and f"rid={request_prefix}" in line:
            retries[found[1]].append((int(found[2]), float(found[3]), float(found[4])))
    return retries


def test_outage_longer_than_the_retry_budget_fails_that_channel_with_its_reason(pg_stack, sandbox):
    sandbox.set_faults("sms", outage_seconds=600)

    message_id = send(pg_stack, ADA, request_id=f"it-outage-{uuid.uuid4().hex[:8]}")
    record = wait_settled(pg_stack, [message_id])[message_id]

    assert states(record) == {"push": "sent", "email": "sent", "sms": "failed"}
    sms = record["channels"]["sms"]
    attempts = FAST_RETRIES["NOTIFIER_MAX_ATTEMPTS"]
    assert sms["attempts"] == int(attempts)
    assert sms["last_error"] == f"gave up after {attempts} attempts: sms provider answered HTTP 503"
    assert not sandbox.deliveries(key=f"message-{message_id}-sms")


def test_notifier_workers_killed_at_random_still_deliver_each_channel_exactly_once(pg_stack, sandbox):
    tag = uuid.uuid4().hex[:8]
    stop = threading.Event()
    killer = threading.Thread(target=_kill_pool_children, args=(pg_stack, stop), daemon=True)
    killer.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            recipients = [ADA if n % 2 else ALAN for n in range(200)]
            ids = list(pool.map(lambda pair: send(pg_stack, pair[1], request_id=f"it-kill-{tag}-{pair[0]}"),
                                enumerate(recipients)))
        poll_until(lambda: killer.kills >= 10, "ten pool processes killed", timeout=120)  # type: ignore[attr-defined]
    finally:
        stop.set()
        killer.join(timeout=30)
    records = wait_settled(pg_stack, ids, timeout=300)

    counts = sandbox.delivery_counts(set(ids))
    expected = {(message_id, channel) for message_id, recipient in zip(ids, recipients, strict=True)
                for channel in ENABLED[recipient]}
    assert set(counts) == expected
    assert set(counts.values()) == {1}
    for message_id, recipient in zip(ids, recipients, strict=True):
        wanted = {channel: "sent" if channel in ENABLED[recipient] else "skipped" for channel in CHANNELS}
        assert states(records[message_id]) == wanted


def _kill_pool_children(stack, stop):
    """SIGKILL a random pool process of the notifier every 0.3 to 1.5 s (only this stack's)."""
    me = threading.current_thread()
    me.kills = 0  # type: ignore[attr-defined]
    while not stop.wait(random.uniform(0.3, 1.5)):
        children = _notifier_pool(stack)
        if children:
            try:
                os.kill(random.choice(children), signal.SIGKILL)
                me.kills += 1  # type: ignore[attr-defined]
            except ProcessLookupError:
                pass


def _notifier_pool(stack):
    """PIDs of the notifier's pool processes: the notifier processes with no notifier child.

    Above them are the worker's main process and the shell honcho started it with.
    """
    workers = {pid for pid in stack.processes() if b"notifier.worker" in _cmdline(pid)}
    parents = {_parent(pid) for pid in workers}
    return [pid for pid in workers if pid not in parents and _parent(pid) in workers]


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _parent(pid):
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None
