"""Publishing a message to the notifier, now or later: the transactional outbox.

A message row is committed with ``published_at`` empty; it is set once the broker confirmed
the task. Whatever is still unpublished after a grace period (the broker was down, the process
died between commit and publish) is published by the relay. Publishing twice is harmless: the
notifier's deliveries are idempotent per (message, channel).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Celery
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from threadline import request_context

from api.db import Message, User

log = logging.getLogger(__name__)
TASK = "notifier.send_notification"
# A failed publish must not hold a request for long: the relay will do it.
RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
# Built once: SQLAlchemy then compiles each statement once per process, not once per request.
USERS = select(User.__table__).where(User.id.in_(bindparam("ids", expanding=True)))
INSERT = insert(Message.__table__).returning(Message.__table__.c.id)
MARK = update(Message.__table__).where(Message.__table__.c.id == bindparam("message_id"))


def users_by_id(session: Session, *user_ids: int) -> dict[int, Any]:
    """The rows of the users with these IDs, by ID; unknown IDs are missing."""
    return {user.id: user for user in session.execute(USERS, {"ids": list(user_ids)})}


def add_message(session: Session, request_id: str, sender: int, recipient: int, body: str) -> int:
    """Insert an unpublished message; return its ID."""
    values = {"request_id": request_id, "sender": sender, "recipient": recipient, "body": body}
    return int(session.execute(INSERT, values).scalar_one())


def task_arguments(message_id: int, recipient: int, user: Any, body: str) -> list[Any]:
    """The notifier's arguments: the body and, per channel, the address (None when turned off);
    ``user`` is the recipient's row, or None when it is gone."""
    addresses = {
        "push": user.device_token if user and user.push_enabled else None,
        "email": user.email if user and user.email_enabled else None,
        "sms": user.phone if user and user.sms_enabled else None,
    }
    return [message_id, recipient, body, addresses]


def publish(celery: Celery, sessions: sessionmaker, message_id: int, arguments: list[Any]) -> bool:
    """Publish one committed message and mark it; False (and logged) when the broker failed."""
    try:
        # Personal data stays out of Flower and of the lines Celery logs about the task.
        celery.send_task(TASK, args=arguments, argsrepr="[redacted]", retry=True, retry_policy=RETRY_POLICY)
    except Exception as exc:
        log.warning("Message %s not published yet (%s); the outbox relay will publish it", message_id, exc)
        return False
    try:
        with sessions.begin() as session:
            session.execute(MARK, {"message_id": message_id, "published_at": datetime.now(UTC)})
    except SQLAlchemyError as exc:
        # The task is out: the request must still succeed. The relay publishes it once more,
        # which the notifier's idempotency makes harmless.
        log.warning("Message %s published but not marked (%s)", message_id, exc)
    return True


def relay_once(celery: Celery, sessions: sessionmaker, grace: timedelta, batch: int = 100) -> int:
    """Publish unpublished messages older than ``grace``; return how many were published."""
    cutoff = datetime.now(UTC) - grace
    with sessions() as session:
        pending = session.scalars(
            select(Message).where(Message.published_at.is_(None), Message.created_at < cutoff)
            .order_by(Message.id).limit(batch)
        ).all()
        users = users_by_id(session, *{message.recipient for message in pending})
        work = [
            (m.id, m.request_id, task_arguments(m.id, m.recipient, users.get(m.recipient), m.body)) for m in pending
        ]
    published = 0
    for message_id, request_id, arguments in work:
        with request_context(request_id):
            if not publish(celery, sessions, message_id, arguments):
                break  # the broker is still away; try again on the next round
            log.info("Outbox relay published message %s", message_id)
            published += 1
    return published
