"""The notifier as the API sees it: its task's name and arguments, and publishing one message."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from threadline import publishing

log = logging.getLogger(__name__)
TASK = "notifier.send_notification"


def addresses_of(user: Any) -> dict[str, str | None]:
    """Per channel, the address of ``user`` (a users row), or None where the channel is off."""
    return {
        "push": user.device_token if user.push_enabled else None,
        "email": user.email if user.email_enabled else None,
        "sms": user.phone if user.sms_enabled else None,
    }


def task_arguments(message: Any) -> list[Any]:
    """send_notification's arguments for ``message`` (a messages row)."""
    return [message.id, message.key, message.recipient, message.body, message.addresses]


def publish(celery: Celery, message: Any) -> bool:
    """Publish one committed message; False (and logged) when the broker failed."""
    try:
        # Personal data stays out of Flower and of the lines Celery logs about the task.
        publishing.send_task(celery, TASK, args=task_arguments(message), argsrepr="[redacted]")
    except Exception as exc:
        log.warning("Message %s not published yet (%s); the outbox relay will publish it", message.id, exc)
        return False
    return True
