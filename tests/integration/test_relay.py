"""Two outbox relays on one PostgreSQL database publish each message once (row locks)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from api.db import open_database
from api.outbox import add_message
from kombu import Connection

from devtools.private_stack import private_vhost, stack_env
from devtools.stack import ROOT, descendants, poll_until
from tests.integration.notifications import postgres_database
from tests.integration.workers import kill_all

MESSAGES = 300


@pytest.fixture
def relays(tmp_path):
    with postgres_database() as database_url, private_vhost("threadline-relay") as broker_url:
        env = stack_env(tmp_path, broker_url, DATABASE_URL=database_url, OUTBOX_GRACE_SECONDS="0",
                        OUTBOX_RELAY_INTERVAL_SECONDS="1", LOG_DIR="")
        engine = open_database(database_url)
        processes = [subprocess.Popen([sys.executable, "-m", "api.relay"], env=env, cwd=ROOT,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
        try:
            yield engine, broker_url
        finally:
            for process in processes:
                tree = [process.pid, *descendants(process.pid)]
                process.terminate()
                process.wait(timeout=30)
                kill_all(tree)
            engine.dispose()


def test_two_relays_publish_each_unpublished_message_once(relays):
    engine, broker_url = relays
    with engine.begin() as connection:
        for n in range(MESSAGES):
            add_message(connection, f"it-relay-{n}", 1, 2, "hello", {"push": None, "email": None, "sms": None}, None)

    def queued() -> int:
        with Connection(broker_url) as connection:
            try:
                return connection.default_channel.queue_declare("notifications", passive=True).message_count
            except Exception:
                return 0

    poll_until(lambda: queued() >= MESSAGES, f"{MESSAGES} messages published", timeout=120)
    with engine.connect() as connection:
        unpublished = connection.exec_driver_sql("SELECT count(*) FROM messages WHERE published_at IS NULL").scalar()
    assert unpublished == 0
    time.sleep(3)  # two more rounds of each relay: a late duplicate would be queued by now
    assert queued() == MESSAGES
