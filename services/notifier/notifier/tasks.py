"""send_notification fans a message out to one task per channel, each on its own queue.

Each channel task reaches its provider at least once and the provider deduplicates by the
idempotency key of (message, channel), so a redelivered or duplicated task sends nothing twice.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded

from notifier import backoff, providers
from notifier.celery_app import CHANNELS
from notifier.config import settings
from notifier.deliveries import store

log = logging.getLogger(__name__)
# Bodies and addresses are personal data: they never appear in Celery's lines or in Flower.
REDACTED_ARGS = "[redacted]"
CHANNEL_NAMES = {"push": "push", "email": "e-mail", "sms": "SMS"}


def idempotency_key(message_id: int, channel: str) -> str:
    return f"message-{message_id}-{channel}"


def _run_channel(task: Task, channel: str, message_id: int, recipient: int, address: str | None, body: str) -> str:
    deliveries, attempt = store(settings().database_url), task.request.retries + 1
    if address is None:
        log.warning("User %s has %s notifications disabled", recipient, CHANNEL_NAMES[channel])
        deliveries.record(message_id, channel, "skipped", attempts=0)
        return "skipped"
    if deliveries.is_final(message_id, channel):
        log.info("Message %s by %s already settled; nothing to do", message_id, channel)
        return "settled"
    try:
        providers.deliver(settings(), channel, idempotency_key(message_id, channel), address, body)
    except providers.PermanentError as exc:
        return _fail(message_id, channel, attempt, str(exc))
    except (providers.TransientError, SoftTimeLimitExceeded) as exc:
        reason = str(exc) or "provider call exceeded the soft time limit"
        return _retry_or_fail(task, channel, message_id, attempt, reason)
    deliveries.record(message_id, channel, "sent", attempt)
    log.info("Delivered message %s to user %s by %s (attempt %s)", message_id, recipient, channel, attempt)
    return "sent"


def _retry_or_fail(task: Task, channel: str, message_id: int, attempt: int, reason: str) -> str:
    config, retries = settings(), attempt - 1
    if attempt >= config.max_attempts:
        return _fail(message_id, channel, attempt, f"gave up after {config.max_attempts} attempts: {reason}")
    store(config.database_url).record(message_id, channel, "pending", attempt, reason)
    ceiling = backoff.ceiling(retries, config.backoff_base, config.backoff_cap)
    delay = backoff.full_jitter(retries, config.backoff_base, config.backoff_cap)
    log.warning(
        "Message %s by %s: attempt %s of %s failed (%s); retry in %.2f s (backoff ceiling %.2f s)",
        message_id, channel, attempt, config.max_attempts, reason, delay, ceiling,
    )
    raise task.retry(countdown=delay, max_retries=config.max_attempts - 1, argsrepr=REDACTED_ARGS)


def _fail(message_id: int, channel: str, attempts: int, reason: str) -> str:
    store(settings().database_url).record(message_id, channel, "failed", attempts, reason)
    log.error("Message %s by %s failed: %s", message_id, channel, reason)
    return "failed"


def _channel_task(channel: str) -> Task:
    # Hard limit above the soft one: a hung provider call is interrupted, then retried.
    @shared_task(bind=True, name=f"notifier.send_{channel}", soft_time_limit=30, time_limit=45)
    def send(self: Task, message_id: int, recipient: int, address: str | None, body: str) -> str:
        return _run_channel(self, channel, message_id, recipient, address, body)

    return send


send_push, send_email, send_sms = (_channel_task(channel) for channel in CHANNELS)
TASKS = {"push": send_push, "email": send_email, "sms": send_sms}


@shared_task(name="notifier.send_notification", soft_time_limit=30, time_limit=45)
def send_notification(message_id: int, recipient: int, body: str, addresses: dict[str, Any]) -> list[str]:
    """Publish one task per channel; ``addresses[channel]`` is None when the user turned it off."""
    for channel in CHANNELS:
        TASKS[channel].apply_async(
            (message_id, recipient, addresses.get(channel), body), argsrepr=REDACTED_ARGS,
        )
    log.info("Message %s fanned out to %s", message_id, ", ".join(CHANNELS))
    return list(CHANNELS)
