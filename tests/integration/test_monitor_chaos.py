"""The monitor's consumer stopped, killed mid-batch, and a worker stopped: no task missing or doubled.

These stacks leave the consumer out of their Procfile and run it themselves (monitor.Consumer),
so stopping it does not stop the stack; Flower, which watches all the while, is the reference
for which tasks exist.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from kombu import Connection

from devtools.stack import Stack, descendants, poll_until
from tests.integration.monitor import (
    CHANNEL_TASKS,
    FAN_OUT,
    Consumer,
    get_trace,
    running,
    settled,
    stack_without_consumer,
    wait_trace,
    walk,
)
from tests.integration.notifications import ADA, send
from tests.integration.support import flower_tasks

pytestmark = pytest.mark.chaos
MESSAGE_TASKS = (FAN_OUT, *CHANNEL_TASKS)


@pytest.fixture(scope="module")
def bare_stack(start_stack, tmp_path_factory):
    """A stack without the monitor's consumer; commits wait up to 2 s, so a kill finds a batch open."""
    return stack_without_consumer(start_stack, tmp_path_factory.mktemp("procfile"), MONITOR_FLUSH_MS="2000",
                                  MONITOR_BATCH_SIZE="5000")


@pytest.fixture
def consumer(bare_stack):
    with running(bare_stack) as process:
        yield process


def post_in_background(
    stack: Stack, tag: str, count: int, pause_after: int = 0, resume: threading.Event | None = None
) -> tuple[threading.Thread, list[str]]:
    """POST ``count`` messages from a thread; with ``resume``, wait for it after ``pause_after``."""
    request_ids: list[str] = []

    def post() -> None:
        for n in range(count):
            if resume is not None and n == pause_after:
                resume.wait(timeout=60)
            request_ids.append(f"it-{tag}-{n}")
            send(stack, ADA, request_id=request_ids[-1])

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread, request_ids


def assert_each_trace_complete(stack: Stack, request_ids: list[str]) -> None:
    """Every request has exactly Flower's tasks, each once, each with one attempt and SUCCESS."""
    for request_id in request_ids:
        document = wait_trace(stack, request_id, settled(MESSAGE_TASKS), "all four tasks succeeded")
        nodes = list(walk(document["tasks"]))
        expected = {task["uuid"] for task in flower_tasks(stack, request_id).values()}
        assert sorted(node["task_id"] for node in nodes) == sorted(expected), request_id
        assert all(node["retries"] == 0 and len(node["attempts"]) == 1 for node in nodes), request_id
        assert document["summary"]["tasks"] == 4 and document["summary"]["by_state"] == {"SUCCESS": 4}
    listed = requests.get(f"{stack.monitor_url}/api/traces", params={"limit": 500}, timeout=10).json()["traces"]
    ids = [item["request_id"] for item in listed]
    assert all(ids.count(request_id) == 1 for request_id in request_ids)


def wait_delivered_in_flower(stack: Stack, request_ids: list[str]) -> None:
    def delivered() -> bool:
        return all(len([t for t in flower_tasks(stack, rid).values() if t["state"] == "SUCCESS"]) == 4
                   for rid in list(request_ids))

    poll_until(delivered, "Flower saw every task succeed", timeout=120, interval=1)


def test_consumer_stopped_while_messages_flow_then_started_misses_and_doubles_nothing(bare_stack, consumer):
    stopped = threading.Event()
    thread, request_ids = post_in_background(bare_stack, f"mon-stop-{uuid.uuid4().hex[:6]}", 24, 6, stopped)
    poll_until(lambda: len(request_ids) >= 6, "the first messages posted", timeout=60)
    consumer.stop()
    stopped.set()
    poll_until(lambda: len(request_ids) >= 16, "messages posted while the consumer is away", timeout=60)
    away = list(request_ids)
    wait_delivered_in_flower(bare_stack, away)
    assert get_trace(bare_stack, away[-1]).status_code == 404  # nothing stored while it was away
    consumer.start()
    thread.join(timeout=120)

    assert_each_trace_complete(bare_stack, request_ids)


def test_consumer_killed_mid_batch_misses_and_doubles_nothing(bare_stack, consumer):
    thread, request_ids = post_in_background(bare_stack, f"mon-kill-{uuid.uuid4().hex[:6]}", 24)
    kill_holding_a_done_request(bare_stack, consumer, request_ids)
    consumer.start()
    thread.join(timeout=120)

    assert_each_trace_complete(bare_stack, request_ids)


def kill_holding_a_done_request(stack: Stack, consumer: Consumer, request_ids: list[str]) -> None:
    """SIGKILL the consumer while its open batch holds every event of a finished request.

    Flower saw the request's tasks succeed, so their events reached the monitor's queue too;
    none is waiting there, so the consumer had them delivered; the monitor stored nothing of
    the request before the kill, nor after it, so no commit beat the kill (else: try again).
    """
    for _ in range(3):
        held = poll_until(lambda: delivered_but_not_stored(stack, request_ids),
                          "a request done in Flower, its events delivered to the consumer and not stored",
                          timeout=60, interval=0.1)
        consumer.kill()
        if get_trace(stack, held).status_code == 404:
            return
        consumer.start()
    raise AssertionError("each kill came after the consumer committed the request it held")


def delivered_but_not_stored(stack: Stack, request_ids: list[str]) -> str | None:
    """A request all of whose tasks succeeded (Flower saw their events), none of whose events is
    stored, while the monitor's queue has no event waiting for the consumer."""
    for request_id in list(request_ids):
        tasks = flower_tasks(stack, request_id).values()
        if len([t for t in tasks if t["state"] == "SUCCESS"]) == 4 and get_trace(stack, request_id).status_code == 404:
            return request_id if waiting_events(stack) == 0 else None
    return None


def waiting_events(stack: Stack) -> int:
    """Messages in the monitor's queue not yet delivered to a consumer (unacknowledged ones are not counted)."""
    with Connection(stack.env["BROKER_URL"]) as connection:
        queue = stack.env.get("MONITOR_QUEUE", "threadline.monitor.events")
        return connection.default_channel.queue_declare(queue, passive=True).message_count


def test_a_task_of_a_stopped_worker_is_pending_then_succeeds_once_it_is_back(bare_stack, consumer):
    worker = _worker_pids(bare_stack, "notifier.worker", "notifications")
    for pid in worker:
        os.kill(pid, signal.SIGSTOP)
    try:
        request_id = f"it-mon-stopped-{uuid.uuid4().hex[:6]}"
        send(bare_stack, ADA, request_id=request_id)
        document = wait_trace(bare_stack, request_id, settled((FAN_OUT,), "PENDING"), "the fan-out task pending")
        [fan_out] = document["tasks"]
        assert fan_out["sent_at"] is not None and fan_out["received_at"] is None and fan_out["worker"] is None
    finally:
        for pid in worker:
            os.kill(pid, signal.SIGCONT)

    wait_trace(bare_stack, request_id, settled(MESSAGE_TASKS), "every task succeeded once the worker is back")


def test_retention_forgets_requests_older_than_the_setting(bare_stack, consumer):
    # Last in this module: it purges everything the tests before it stored.
    old, kept = f"it-mon-old-{uuid.uuid4().hex[:6]}", f"it-mon-new-{uuid.uuid4().hex[:6]}"
    send(bare_stack, ADA, request_id=old)
    wait_trace(bare_stack, old, settled(MESSAGE_TASKS), "the old request stored")
    stored_at = time.time()
    poll_until(lambda: time.time() - stored_at > 12, "the old request is 12 s old", timeout=20)
    consumer.stop()
    send(bare_stack, ADA, request_id=kept)
    # Eight seconds: the old request is older, the new one (its events just sent) younger. The
    # consumer purges once at start.
    consumer.start(MONITOR_RETENTION_DAYS=str(8 / 86400))

    wait_trace(bare_stack, kept, settled(MESSAGE_TASKS), "the new request stored")
    assert get_trace(bare_stack, old).status_code == 404


def _worker_pids(stack: Stack, module: str, queue: str) -> list[int]:
    """The main process and pool children of the worker of ``module`` that consumes ``queue``."""
    for pid in stack.processes():
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if module.encode() in command and queue.encode() in command and b"celery" in b"".join(command[:2]):
            return [pid, *descendants(pid)]
    raise AssertionError(f"no process runs {module}")
