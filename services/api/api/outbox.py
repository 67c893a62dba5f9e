"""Publishing a message to the notifier, now or later: the transactional outbox.

A message row is committed with ``published_at`` empty; it is set once the broker confirmed
the task. Whatever is still unpublished after a grace period (the broker was down, the process
died between commit and publish) is published by the relay. Publishing twice is harmless: the
notifier's deliveries are idempotent per (message, channel).

A POST does not wait for its mark: ``PublishedMarks`` sets it for every message its process
published in the last fraction of a second in one UPDATE, so a request commits once.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Celery
from sqlalchemy import Connection, Engine, bindparam, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from threadline import request_context

from api.db import Message, User

log = logging.getLogger(__name__)
TASK = "notifier.send_notification"
# A failed publish must not hold a request for long: the relay will do it.
RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
# Nor may a broker that takes the message but does not confirm it (a memory or disk alarm
# blocks its publishers): each attempt waits this long for the confirm.
CONFIRM_TIMEOUT_SECONDS = 2
MESSAGES, USERS = Message.__table__, User.__table__
# Built once: SQLAlchemy then compiles each statement once per process, not once per request.
SENDER_AND_RECIPIENT = select(USERS).where(or_(USERS.c.id == bindparam("sender"), USERS.c.id == bindparam("recipient")))
INSERT = insert(MESSAGES).returning(MESSAGES.c.id)
MARK = update(MESSAGES).where(MESSAGES.c.id.in_(bindparam("ids", expanding=True)))
UNPUBLISHED = (
    select(MESSAGES.c.id.label("message_id"), MESSAGES.c.request_id, MESSAGES.c.recipient, MESSAGES.c.body, USERS)
    .outerjoin(USERS, USERS.c.id == MESSAGES.c.recipient)
    .where(MESSAGES.c.published_at.is_(None), MESSAGES.c.created_at < bindparam("cutoff"))
    .order_by(MESSAGES.c.id).limit(bindparam("batch"))
)


def sender_and_recipient(connection: Connection, sender: int, recipient: int) -> dict[int, Any]:
    """The rows of these two users, by ID; unknown IDs are missing."""
    rows = connection.execute(SENDER_AND_RECIPIENT, {"sender": sender, "recipient": recipient})
    return {user.id: user for user in rows}


def add_message(connection: Connection, request_id: str, sender: int, recipient: int, body: str) -> int:
    """Insert an unpublished message; return its ID."""
    values = {"request_id": request_id, "sender": sender, "recipient": recipient, "body": body}
    return int(connection.execute(INSERT, values).scalar_one())


def task_arguments(message_id: int, recipient: int, user: Any, body: str) -> list[Any]:
    """The notifier's arguments: the body and, per channel, the address (None when turned off);
    ``user`` is the recipient's row, or None when it is gone."""
    addresses = {
        "push": user.device_token if user and user.push_enabled else None,
        "email": user.email if user and user.email_enabled else None,
        "sms": user.phone if user and user.sms_enabled else None,
    }
    return [message_id, recipient, body, addresses]


def publish(celery: Celery, message_id: int, arguments: list[Any]) -> bool:
    """Publish one committed message; False (and logged) when the broker failed."""
    try:
        with celery.producer_or_acquire() as producer:
            try:
                # Personal data stays out of Flower and of the lines Celery logs about the task.
                celery.send_task(TASK, args=arguments, argsrepr="[redacted]", retry=True, retry_policy=RETRY_POLICY,
                                 confirm_timeout=CONFIRM_TIMEOUT_SECONDS, producer=producer)
            except Exception:
                # A broker that blocks the connection would not answer its close either: the
                # pool's graceful close would wait forever. Drop the connection without it.
                producer.connection.collect()
                raise
    except Exception as exc:
        log.warning("Message %s not published yet (%s); the outbox relay will publish it", message_id, exc)
        return False
    return True


def mark_published(engine: Engine, message_ids: list[int]) -> None:
    """Set ``published_at`` of these messages in one statement."""
    try:
        with engine.begin() as connection:
            connection.execute(MARK, {"ids": message_ids, "published_at": datetime.now(UTC)})
    except SQLAlchemyError as exc:
        # The tasks are out: the relay publishes them once more, which the notifier's
        # idempotency makes harmless.
        log.warning("Messages %s published but not marked (%s)", message_ids, exc)


class PublishedMarks:
    """Marks the messages this process published, every ``interval`` seconds, in a thread.

    A mark that never lands (the process was killed first) costs one more publish by the relay
    after its grace period, far longer than ``interval``.
    """

    def __init__(self, engine: Engine, interval: float = 0.2) -> None:
        self._engine, self._interval = engine, interval
        self._pending: list[int] = []
        self._lock = threading.Lock()
        self._thread_pid = 0
        atexit.register(self.flush)

    def add(self, message_id: int) -> None:
        with self._lock:
            self._pending.append(message_id)
            # Started by the first mark of each process: gunicorn may fork after the app exists.
            if self._thread_pid != os.getpid():
                self._thread_pid = os.getpid()
                threading.Thread(target=self._run, name="outbox-marks", daemon=True).start()

    def flush(self) -> None:
        with self._lock:
            message_ids, self._pending = self._pending, []
        if message_ids:
            mark_published(self._engine, message_ids)

    def _run(self) -> None:
        while True:
            time.sleep(self._interval)
            self.flush()


def relay_once(celery: Celery, engine: Engine, grace: timedelta, batch: int = 100) -> int:
    """Publish unpublished messages older than ``grace``; return how many were published."""
    with engine.connect() as connection:
        pending = connection.execute(UNPUBLISHED, {"cutoff": datetime.now(UTC) - grace, "batch": batch}).all()
    published: list[int] = []
    for row in pending:
        # The recipient's columns, or None when the user is gone.
        user = row if row.name is not None else None
        with request_context(row.request_id):
            if not publish(celery, row.message_id, task_arguments(row.message_id, row.recipient, user, row.body)):
                break  # the broker is still away; try again on the next round
            log.info("Outbox relay published message %s", row.message_id)
            published.append(row.message_id)
    if published:
        mark_published(engine, published)
    return len(published)
