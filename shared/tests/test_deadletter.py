"""The dead-letter queue's redrive against a real broker, in a vhost of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from kombu import Connection, Exchange, Queue
from threadline import deadletter
from threadline.conf import DEAD_LETTER, dead_letter_queue

from devtools import rabbit
from devtools.stack import poll_until


@pytest.fixture
def connection() -> Iterator[Connection]:
    vhost = f"threadline-deadletter-{uuid.uuid4().hex[:8]}"
    rabbit.add_vhost(vhost)
    try:
        url = f"amqp://guest:guest@localhost:5672/{vhost}"
        with Connection(url, transport_options={"confirm_publish": True}) as connection:
            yield connection
    finally:
        rabbit.delete_vhost(vhost)


def dead_lettered(connection: Connection) -> int:
    return dead_letter_queue()(connection.default_channel).queue_declare(passive=True).message_count


def test_a_message_that_dies_again_at_once_is_redriven_once_and_waits(connection):
    deadletter.declare(connection)
    # A queue that dead-letters every message at once, as a worker rejects a poison message.
    doomed = Exchange("doomed", type="topic")
    arguments = {"x-message-ttl": 0, "x-dead-letter-exchange": DEAD_LETTER}
    queue = Queue("doomed", doomed, routing_key="doomed", durable=True, queue_arguments=arguments)
    queue(connection.default_channel).declare()
    connection.Producer().publish({"task": "poison"}, exchange=doomed, routing_key="doomed", serializer="json",
                                  headers={"task": "it.poison", "id": "it-poison-1"})
    poll_until(lambda: dead_lettered(connection) == 1, "the message dead-lettered")

    # As an operator runs it; a redrive that takes the message each time it dies again never ends.
    redrive = subprocess.run([sys.executable, "-m", "threadline.deadletter", "redrive"], capture_output=True, text=True,
                             env={**os.environ, "BROKER_URL": connection.as_uri(include_password=True)}, timeout=30)

    assert redrive.returncode == 0 and "1 message(s) re-driven" in redrive.stderr, redrive.stderr
    poll_until(lambda: dead_lettered(connection) == 1, "the message back in the dead-letter queue, waiting")
    [message] = list(deadletter.dead_letters(connection))
    assert deadletter.describe(message)["id"] == "it-poison-1"
