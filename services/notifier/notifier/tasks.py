"""send_notification fans a message out to one task per channel, each on its own queue."""

from __future__ import annotations

import logging

from celery import Task, shared_task

from notifier.celery_app import CHANNELS

log = logging.getLogger(__name__)
# Message bodies are personal data: they never appear in Celery's "received" lines.
BODY_REPR = "{'body': '[redacted]'}"


def _channel_task(channel: str) -> Task:
    @shared_task(name=f"notifier.send_{channel}")
    def send(message_id: int, recipient: int, body: str) -> str:
        log.info("Delivered message %s to user %s by %s", message_id, recipient, channel)
        return "sent"

    return send


send_push, send_email, send_sms = (_channel_task(channel) for channel in CHANNELS)


@shared_task(name="notifier.send_notification")
def send_notification(message_id: int, recipient: int, body: str) -> list[str]:
    for task in (send_push, send_email, send_sms):
        task.apply_async((message_id, recipient), {"body": body}, kwargsrepr=BODY_REPR)
    log.info("Message %s fanned out to %s", message_id, ", ".join(CHANNELS))
    return list(CHANNELS)
