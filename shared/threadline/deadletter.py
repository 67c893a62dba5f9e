"""The dead-letter queue: where task messages that can never be processed end, and the way back.

    python -m threadline.deadletter list      # one line per dead-lettered message
    python -m threadline.deadletter redrive   # publish each back to the queue it died in, once

Both read BROKER_URL. A message is taken off the dead-letter queue only once the broker
confirmed its republication, so a redrive cut short loses nothing.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterator
from typing import Any

from celery import Celery, signals
from kombu.connection import Connection
from kombu.entity import Exchange
from kombu.message import Message

from threadline.conf import DEAD_LETTER, broker_url, dead_letter_queue


def install(app: Celery) -> None:
    """When a worker of ``app`` starts, declare the dead-letter queue and every queue of ``app``.

    Before its consumer starts: Celery's native delayed delivery binds each of the app's
    queues, the ones it only publishes to included, and needs their exchanges to exist.
    """

    def declare_all(sender: Any = None, **_: Any) -> None:
        if sender is not None and sender.app is app:
            with app.connection_for_write() as connection:
                declare(connection)
                for queue in app.amqp.queues.values():
                    queue(connection.default_channel).declare()

    signals.worker_init.connect(declare_all, weak=False, dispatch_uid=f"threadline.deadletter.{id(app)}")


def declare(connection: Connection) -> None:
    """Declare the dead-letter exchange and queue (idempotent)."""
    dead_letter_queue()(connection.default_channel).declare()


def describe(message: Message) -> dict[str, Any]:
    """What an operator needs to know of a dead-lettered task message."""
    headers = message.headers or {}
    death = (headers.get("x-death") or [{}])[0]
    return {
        "task": headers.get("task"),
        "id": headers.get("id"),
        "queue": death.get("queue") or headers.get("x-first-death-queue"),
        "reason": death.get("reason") or headers.get("x-first-death-reason"),
        "count": death.get("count"),
        "delivery_count": headers.get("x-delivery-count"),
    }


def dead_letters(connection: Connection) -> Iterator[Message]:
    """Every message now in the dead-letter queue, unacknowledged, oldest first."""
    declare(connection)
    queue = dead_letter_queue()(connection.default_channel)
    while (message := queue.get(no_ack=False)) is not None:
        yield message


def redrive(connection: Connection) -> int:
    """Publish each message the dead-letter queue holds now back to the queue it died in; return
    how many. Only those: one that dies again at once (a poison message) comes back behind them
    and waits for the operator, instead of going round for as long as the redrive would run."""
    declare(connection)
    waiting = dead_letter_queue()(connection.default_channel).queue_declare(passive=True).message_count
    producer = connection.Producer()
    count = 0
    for message in itertools.islice(dead_letters(connection), waiting):
        info = describe(message)
        headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith("x-")}
        producer.publish(
            message.body, exchange=Exchange(info["queue"], type="topic"), routing_key=info["queue"],
            headers=headers, content_type=message.content_type, content_encoding=message.content_encoding,
            delivery_mode=2, correlation_id=message.properties.get("correlation_id"),
            reply_to=message.properties.get("reply_to"),
        )
        message.ack()
        count += 1
    return count


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "list"
    # Confirms make each publish wait for the broker, so the ack after it is safe.
    with Connection(broker_url(), transport_options={"confirm_publish": True}) as connection:
        if command == "list":
            found = 0
            for message in dead_letters(connection):
                print(json.dumps(describe(message)))
                found += 1
            # Unacknowledged messages return to the queue when the connection closes.
            print(f"{found} message(s) in {DEAD_LETTER}", file=sys.stderr)
        elif command == "redrive":
            print(f"{redrive(connection)} message(s) re-driven from {DEAD_LETTER}", file=sys.stderr)
        else:
            print(__doc__, file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
