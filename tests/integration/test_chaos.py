"""Faults a notification must survive: flaky, absent and slow providers, workers killed mid-task,
the database away or refusing writes, a channel past its hard time limit, a poison message.

Each scenario ends with every 202'd message's every enabled channel sent, no HTTP delivery made
twice, and the number of e-mails that arrived twice printed (SMTP has no idempotency key).
Effects are counted where they happen: every request the providers answered with a delivery
and every mail the SMTP sink stored, by the request ID it carried.
"""

from __future__ import annotations

import math
import os
import random
import re
import signal
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg
import pytest
import requests

from devtools.stack import Stack, poll_until
from tests.integration.notifications import (
    ADA,
    ALAN,
    CHANNELS,
    ENABLED,
    FAST_RETRIES,
    Sandbox,
    check_effects,
    message,
    send,
    states,
    wait_settled,
)
from tests.integration.support import flower_tasks
from tests.integration.workers import TestWorker, paused

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


def burst(stack: Stack, prefix: str, count: int, threads: int = 4, pause: float = 0) -> dict[str, int]:
    """POST ``count`` messages, to Ada and Alan in turn, each thread waiting ``pause`` s between
    its POSTs; return request ID -> recipient of those answered 202 (a POST may fail while a
    fault lasts: it stored nothing)."""
    wanted = {f"{prefix}-{n}": ADA if n % 2 else ALAN for n in range(count)}

    def post(item: tuple[str, int]) -> tuple[str, int] | None:
        time.sleep(pause)  # spreads the burst over a fault's duration
        try:
            send(stack, item[1], request_id=item[0])
        except (AssertionError, requests.RequestException):
            return None  # not accepted, as far as this client knows
        return item

    with ThreadPoolExecutor(threads) as pool:
        return dict(item for item in pool.map(post, wanted.items()) if item is not None)


def settle_and_check(stack: Stack, sandbox: Sandbox, sent: dict[str, int], timeout: float = 300) -> int:
    """Wait until every message in ``sent`` settled with each enabled channel sent; check the
    effects at the providers; return the e-mail duplicate count."""
    ids = message_ids(stack, sent)
    records = wait_settled(stack, list(ids.values()), timeout=timeout)
    for request_id, message_id in ids.items():
        wanted = {channel: "sent" if channel in ENABLED[sent[request_id]] else "skipped" for channel in CHANNELS}
        assert states(records[message_id]) == wanted, (request_id, records[message_id])
    return check_effects(sandbox, sent)


def message_ids(stack: Stack, sent: dict[str, int]) -> dict[str, int]:
    """The message ID of each request, read from the API's log of accepted messages."""
    found = {}
    pattern = re.compile(r"rid=(\S+) .*Message (\d+) from user \d+ to user \d+ accepted")
    for line in (stack.log_dir / "api.log").read_text().splitlines():
        match = pattern.search(line)
        if match and match[1] in sent:
            found[match[1]] = int(match[2])
    assert set(found) == set(sent), f"no accepted line for {set(sent) - set(found)}"
    return found


def test_provider_failing_30_percent_of_calls_still_delivers_everything(pg_stack, sandbox):
    sandbox.set_faults("all", error_rate=0.3)
    tag = uuid.uuid4().hex[:8]

    sent = burst(pg_stack, f"it-flaky-{tag}", 25)
    assert len(sent) == 25
    settle_and_check(pg_stack, sandbox, sent)

    retries = _retries_by_task(pg_stack, f"it-flaky-{tag}-")
    task_id, attempts = max(retries.items(), key=lambda item: len(item[1]))
    assert len(attempts) >= 2, f"no task was retried twice: {retries}"
    ceilings = [ceiling for _, _, ceiling in attempts]
    assert [number for number, _, _ in attempts] == list(range(1, len(attempts) + 1)), task_id
    assert ceilings == sorted(ceilings) and ceilings[0] < ceilings[-1], f"{task_id}: {attempts}"
    # Waits reach the broker in whole seconds, at least one (threadline.backoff.whole_seconds).
    assert all(1 <= delay <= max(1, math.ceil(ceiling)) for _, delay, ceiling in attempts)


def _retries_by_task(stack, request_prefix):
    """(attempt, delay, ceiling) of each failed attempt, by task ID, from the notifier's log."""
    retries = defaultdict(list)
    for line in (stack.log_dir / "notifier.log").read_text().splitlines():
        found = RETRY_LINE.search(line)
        if found and f"rid={request_prefix}" in line:
            retries[found[1]].append((int(found[2]), float(found[3]), float(found[4])))
    return retries


def test_outage_longer_than_the_retry_budget_fails_that_channel_as_a_failed_task(pg_stack, sandbox):
    sandbox.set_faults("sms", outage_seconds=600)
    request_id = f"it-outage-{uuid.uuid4().hex[:8]}"

    message_id = send(pg_stack, ADA, request_id=request_id)
    record = wait_settled(pg_stack, [message_id])[message_id]

    assert states(record) == {"push": "sent", "email": "sent", "sms": "failed"}
    sms = record["channels"]["sms"]
    attempts = FAST_RETRIES["NOTIFIER_MAX_ATTEMPTS"]
    reason = f"gave up after {attempts} attempts: sms provider answered HTTP 503"
    assert sms["attempts"] == int(attempts)
    assert sms["last_error"] == reason
    assert not sandbox.requests(request_id=request_id, channel="sms", outcome="delivered")
    # Where operators look, the task failed, with the reason as its exception.
    tasks = poll_until(lambda: _if(flower_tasks(pg_stack, request_id), lambda t: t.get("notifier.send_sms", {})
                                   .get("state") == "FAILURE"), "the SMS task FAILURE in Flower", timeout=60)
    assert reason in tasks["notifier.send_sms"]["exception"]
    assert tasks["notifier.send_push"]["state"] == "SUCCESS"


def _if(value, condition):
    return value if condition(value) else None


def test_a_slow_provider_does_not_hold_up_the_other_channels(pg_stack, sandbox):
    sandbox.set_faults("push", latency_ms=10_000)
    sent = {f"it-slow-push-{uuid.uuid4().hex[:8]}-{n}": ADA for n in range(4)}
    started = time.monotonic()
    ids = {request_id: send(pg_stack, ADA, request_id=request_id) for request_id in sent}

    def others_sent():
        return all(sandbox.requests(request_id=request_id, channel=channel, outcome="delivered")
                   for request_id in sent for channel in ("email", "sms"))

    poll_until(others_sent, "e-mail and SMS delivered while push is slow", timeout=8, interval=0.2)
    others_took = time.monotonic() - started
    pushed = [request_id for request_id in sent if sandbox.requests(request_id=request_id, channel="push",
                                                                    outcome="delivered")]
    print(f"e-mail and SMS of 4 messages delivered in {others_took:.1f} s; push then had {len(pushed)} of 4")
    assert len(pushed) < 4
    sandbox.set_faults("all")
    wait_settled(pg_stack, list(ids.values()), timeout=120)
    check_effects(sandbox, sent)


def test_notifier_pool_processes_killed_at_random_still_deliver_each_http_channel_once(pg_stack, sandbox):
    tag = uuid.uuid4().hex[:8]
    log = pg_stack.log_dir / "notifier.log"
    before = log.read_text().count("WorkerLostError")
    sandbox.set_faults("all", latency_ms=50)  # tasks last long enough for kills to land in them
    stop = threading.Event()
    killer = threading.Thread(target=_kill_pool_children, args=(pg_stack, stop), daemon=True)
    killer.start()
    try:
        sent = burst(pg_stack, f"it-kill-{tag}", 200)
        poll_until(lambda: killer.kills >= 10, "ten pool processes killed", timeout=120)  # type: ignore[attr-defined]
    finally:
        stop.set()
        killer.join(timeout=30)
    sandbox.set_faults("all")
    assert len(sent) >= 190, f"only {len(sent)} of 200 POSTs answered 202"

    duplicates = settle_and_check(pg_stack, sandbox, sent)

    lost = log.read_text().count("WorkerLostError") - before
    redelivered = _count(pg_stack, f"rid=it-kill-{tag}-", "redelivered: the worker that had it was lost")
    print(f"{killer.kills} pool processes killed; {lost} running tasks lost; {redelivered} redelivered; "  # type: ignore[attr-defined]
          f"{duplicates} e-mail duplicates")
    assert lost > 0 and redelivered > 0, "no kill hit a running task"


def _count(stack, rid_prefix, *texts):
    return sum(1 for line in (stack.log_dir / "notifier.log").read_text().splitlines()
               if rid_prefix in line and all(text in line for text in texts))


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
    """PIDs of the notifier's pool processes: notifier worker processes whose parent is one.

    A worker's main process has the shell honcho started it with (or honcho) as its parent, so
    it is never among them, even while its pool is being replaced.
    """
    workers = {pid for pid in stack.processes() if b"notifier.worker" in _cmdline(pid).split(b"\0")}
    return [pid for pid in workers if _parent(pid) in workers]


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


def test_notifier_main_processes_killed_mid_burst_and_started_again(pg_stack, sandbox):
    tag = uuid.uuid4().hex[:8]
    sandbox.set_faults("all", latency_ms=300)
    with ExitStack() as running:
        workers = []
        for channel in CHANNELS:
            running.enter_context(paused(pg_stack, f"notifier-{channel}", channel))
            workers.append(TestWorker(pg_stack, f"notifier-{channel}").start())
            running.callback(workers[-1].stop)
        sent: dict[str, int] = {}
        poster = threading.Thread(target=lambda: sent.update(burst(pg_stack, f"it-main-{tag}", 40, threads=2)))
        poster.start()
        for channel in CHANNELS:
            received = f"notifier.send_{channel}["
            poll_until(lambda received=received: _count(pg_stack, f"rid=it-main-{tag}-", received) >= 6,
                       f"{channel} tasks received by the test's worker", timeout=60)
        for worker in workers:
            worker.kill_main()
        poster.join(timeout=120)
        for worker in workers:
            worker.start()
        sandbox.set_faults("all")
        duplicates = settle_and_check(pg_stack, sandbox, sent)
    redelivered = {channel: _count(pg_stack, f"rid=it-main-{tag}-", f"by {channel} redelivered: the worker")
                   for channel in CHANNELS}
    print(f"main processes killed: tasks redelivered {redelivered}; {duplicates} e-mail duplicates")
    assert all(redelivered.values()), f"a killed worker held no task: {redelivered}"


def test_a_second_task_for_an_e_mail_being_sent_leaves_it_to_the_first(pg_stack, sandbox):
    """A fan-out run twice (the relay or the sweeper published the message again) while the
    e-mail is with the SMTP server: the second task leaves it to the first, one mail arrives."""
    from celery import Celery
    from threadline.conf import celery_config
    from threadline.ids import make_task_id

    request_id = f"it-twice-{uuid.uuid4().hex[:8]}"
    sandbox.set_faults("email", latency_ms=8000)
    message_id = send(pg_stack, ADA, request_id=request_id)
    poll_until(lambda: message(pg_stack, message_id)["channels"]["email"]["state"] == "sending",
               "the first task sending the e-mail", timeout=60)
    record = message(pg_stack, message_id)
    address = requests.get(f"{pg_stack.api_url}/api/users/{ADA}", timeout=10).json()["email"]
    app = Celery("it-twice", set_as_current=False)
    app.conf.update(celery_config(pg_stack.env["BROKER_URL"], ("email",)))
    second = make_task_id(request_id)
    app.send_task("notifier.send_email", args=[message_id, record["key"], ADA, address, record["body"]],
                  task_id=second, queue="email")
    app.close()
    poll_until(lambda: _count(pg_stack, f"rid={request_id} ", "notifier.send_email[", "succeeded in") == 2,
               "both e-mail tasks ended", timeout=90)
    assert settle_and_check(pg_stack, sandbox, {request_id: ADA}) == 0, "the e-mail was sent twice"
    assert _count(pg_stack, f"task={second} ", "another task is sending it") == 1


@contextmanager
def database_down(stack: Stack) -> Iterator[None]:
    """Take the stack's own database away (connections refused and cut), as a restart does."""
    name = stack.env["DATABASE_URL"].rsplit("/", 1)[1]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')


def test_database_restarted_mid_burst(pg_stack, sandbox):
    tag = uuid.uuid4().hex[:8]
    sandbox.set_faults("all", latency_ms=20)
    sent: dict[str, int] = {}
    poster = threading.Thread(target=lambda: sent.update(burst(pg_stack, f"it-pgdown-{tag}", 60, threads=2, pause=0.2)))
    poster.start()
    poll_until(lambda: _count(pg_stack, f"rid=it-pgdown-{tag}-", "Delivered message") >= 10,
               "deliveries under way", timeout=60)
    with database_down(pg_stack):
        time.sleep(4)  # the outage itself: nothing to poll for
    poster.join(timeout=120)
    sandbox.set_faults("all")

    duplicates = settle_and_check(pg_stack, sandbox, sent)
    print(f"database down 4 s: {len(sent)} of 60 POSTs accepted; {duplicates} e-mail duplicates")
    assert 0 < len(sent) < 60, "the outage hit no POST, or every POST"


@contextmanager
def state_writes_refused(stack: Stack) -> Iterator[None]:
    """While inside, the database raises on every write of a delivery's 'sent' state."""
    with psycopg.connect(stack.env["DATABASE_URL"].replace("+psycopg", ""), autocommit=True) as db:
        db.execute(
            "CREATE OR REPLACE FUNCTION it_refuse_sent() RETURNS trigger AS $$ BEGIN"
            " IF NEW.state = 'sent' THEN RAISE EXCEPTION 'state write refused (test)'; END IF;"
            " RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        db.execute("CREATE TRIGGER it_refuse_sent BEFORE INSERT OR UPDATE ON deliveries"
                   " FOR EACH ROW EXECUTE FUNCTION it_refuse_sent()")
        try:
            yield
        finally:
            db.execute("DROP TRIGGER it_refuse_sent ON deliveries")
            db.execute("DROP FUNCTION it_refuse_sent()")


@pytest.mark.parametrize(("messages", "refused_until", "wanted", "what"), [
    (10, "state write refused", 10, "state writes refused"),
    # The whole retry budget (FAST_RETRIES: 10 attempts) spent on recording: a delivery the
    # provider took is never failed, and never sent again.
    (2, "attempt 10 of 10 failed", 5, "every channel's budget spent on its state write"),
], ids=["for-a-while", "past-the-retry-budget"])
def test_database_raising_on_the_state_write_sends_nothing_twice(pg_stack, sandbox, messages, refused_until,
                                                                   wanted, what):
    tag = uuid.uuid4().hex[:8]
    with state_writes_refused(pg_stack):
        sent = burst(pg_stack, f"it-refused-{tag}", messages)
        poll_until(lambda: _count(pg_stack, f"rid=it-refused-{tag}-", refused_until) >= wanted, what, timeout=120)

    duplicates = settle_and_check(pg_stack, sandbox, sent)
    assert duplicates == 0, "an e-mail was sent again after its state write failed"


def test_poison_message_ends_in_the_dead_letter_queue_and_can_be_redriven(pg_stack, sandbox):
    from celery import Celery
    from threadline.conf import celery_config

    from tests.integration.deadletters import dead_letters, redrive

    app = Celery("it-poison", set_as_current=False)
    app.conf.update(celery_config(pg_stack.env["BROKER_URL"], ("push",)))
    task_id = f"it-poison-{uuid.uuid4().hex[:8]}"
    app.send_task("notifier.send_push", args=["not", "a", "delivery"], task_id=task_id, queue="push")
    app.close()

    letters = poll_until(lambda: [d for d in dead_letters(pg_stack) if d["id"] == task_id],
                         "the poison message in the dead-letter queue", timeout=60)
    assert letters[0]["queue"] == "push" and letters[0]["reason"] == "rejected", letters
    assert _count_any(pg_stack, task_id, "cannot process its message (TypeError") == 1
    assert redrive(pg_stack) >= 1
    poll_until(lambda: _count_any(pg_stack, task_id, "cannot process its message (TypeError") == 2,
               "the re-driven message processed again", timeout=60)


def _count_any(stack, task_id, text):
    return sum(1 for line in (stack.log_dir / "notifier.log").read_text().splitlines()
               if task_id in line and text in line)
