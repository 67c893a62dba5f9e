"""send_notification fans a message out to one task per channel, each on its own queue.

Each channel task reaches its provider at least once; the idempotency key of (message UUID,
channel) lets an HTTP provider drop a repeat. A channel task ends in one of three ways:
SUCCESS (sent, skipped or already settled), FAILURE with the reason (a permanent refusal or
the retry budget spent, recorded first), or a retry. Anything else (the database down, a
provider answer that makes no sense) is retried like a transient failure; a message that
cannot even be read is dead-lettered, never dropped.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from celery.exceptions import Reject, Retry
from threadline import backoff

from notifier import providers
from notifier.celery_app import CHANNELS
from notifier.config import settings
from notifier.deliveries import FINAL, store

log = logging.getLogger(__name__)
# Bodies and addresses are personal data: they never appear in Celery's lines or in Flower.
REDACTED_ARGS = "[redacted]"
CHANNEL_NAMES = {"push": "push", "email": "e-mail", "sms": "SMS"}


class DeliveryFailed(Exception):
    """A delivery gave up; the message says why (a task's FAILURE shows it)."""


class AttemptFailed(Exception):
    """Why an attempt will be retried: Flower, task events and the monitor show it."""


class DeliveryTask(Task):  # type: ignore[misc]
    """The notifier's tasks: acknowledged late, never acknowledged while their outcome is unknown."""

    acks_late = True
    reject_on_worker_lost = True
    # A failure is recorded (the delivery's row says why) before the task raises it.
    acks_on_failure = True
    # Past the hard time limit the pool process was ended mid-call: the message goes back to
    # its queue, and past the queue's delivery limit to the dead-letter queue.
    acks_on_timeout = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except (DeliveryFailed, AttemptFailed, Retry, Reject):
            raise
        except Exception as exc:
            # Arguments that do not fit the task, or a fault in the handling below: keep the
            # message in the dead-letter queue for an operator rather than drop it.
            log.error("%s cannot process its message (%s: %s); dead-lettered", self.name, type(exc).__name__, exc)
            raise Reject(f"{type(exc).__name__}: {exc}", requeue=False) from None


def idempotency_key(message_key: str, channel: str) -> str:
    """The key a provider deduplicates by: globally unique, the same for every retry."""
    return f"{message_key}-{channel}"


def _run_channel(task: Task, channel: str, message_id: int, message_key: str, recipient: int,
                 address: str | None, body: str, delivered: bool, gave_up: str | None) -> str:
    deliveries, attempt = store(settings().database_url), task.request.retries + 1
    key = idempotency_key(message_key, channel)
    if gave_up is not None:
        # An earlier attempt gave up but could not record it: only record it, send nothing.
        return _fail(task, message_id, channel, key, attempt, gave_up)
    if (task.request.delivery_info or {}).get("redelivered"):
        log.info("Message %s by %s redelivered: the worker that had it was lost", message_id, channel)
    try:
        if address is None:
            log.warning("User %s has %s notifications disabled", recipient, CHANNEL_NAMES[channel])
            deliveries.record(message_id, channel, key, "skipped", attempts=0)
            return "skipped"
        if not delivered:
            current = deliveries.current(message_id, channel)
            if current is not None and current.state in FINAL:
                log.info("Message %s by %s already settled; nothing to do", message_id, channel)
                return "settled"
            if channel == "email" and not _claim_email(task, message_id, key, attempt, current):
                # Its claim stays untouched: if that task dies, its message is redelivered, and
                # a message left unsettled is swept (api.relay_rounds).
                log.info("Message %s by e-mail: another task is sending it; left to that task", message_id)
                return "left to another task"
            providers.deliver(settings(), channel, key, address, body)
            delivered = True
        deliveries.record(message_id, channel, key, "sent", attempt)
    except providers.PermanentError as exc:
        return _fail(task, message_id, channel, key, attempt, str(exc))
    except (DeliveryFailed, Retry, Reject):
        raise
    except Exception as exc:
        reason = _reason(exc)
        return _retry_or_fail(task, channel, message_id, key, attempt, reason, delivered=delivered)
    log.info("Delivered message %s to user %s by %s (attempt %s)", message_id, recipient, channel, attempt)
    return "sent"


def _claim_email(task: Task, message_id: int, key: str, attempt: int, current: Any) -> bool:
    if current is not None and current.state == "sending" and current.claimed_by == task.request.id:
        # This task's own claim: it was cut short (worker killed, hard limit) while sending.
        log.warning("Message %s by e-mail: a cut-short attempt may have sent it already; sending again", message_id)
    stale_after = timedelta(seconds=2 * settings().time_limit)
    return store(settings().database_url).claim(message_id, "email", key, task.request.id, attempt, stale_after)


def _reason(exc: Exception) -> str:
    if isinstance(exc, providers.TransientError):
        return str(exc)
    if type(exc).__name__ == "SoftTimeLimitExceeded":
        return "provider call exceeded the soft time limit"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _retry_or_fail(task: Task, channel: str, message_id: int, key: str, attempt: int, reason: str,
                   delivered: bool = False) -> str:
    config, retries = settings(), attempt - 1
    # Once the provider took the delivery it is never failed: its retries only record it.
    if attempt >= config.max_attempts and not delivered:
        return _fail(task, message_id, channel, key, attempt, f"gave up after {config.max_attempts} attempts: {reason}")
    if not delivered:
        try:
            store(config.database_url).record(message_id, channel, key, "pending", attempt, reason)
        except Exception as exc:  # the retry below carries on; the next attempt records again
            log.warning("Message %s by %s: state not recorded (%s)", message_id, channel, _reason(exc))
    delay, ceiling = _backoff(retries)
    log.warning(
        "Message %s by %s: attempt %s of %s failed (%s); retry in %s s (backoff ceiling %.2f s)",
        message_id, channel, attempt, config.max_attempts, reason, delay, ceiling,
    )
    # A retry after the provider took the delivery only records it: nothing is sent twice.
    _retry(task, delay, reason, delivered=delivered)
    raise AssertionError("Task.retry always raises")


def _backoff(retries: int) -> tuple[int, float]:
    """The wait before retry number ``retries + 1``, and its ceiling."""
    config = settings()
    ceiling = backoff.ceiling(retries, config.backoff_base, config.backoff_cap)
    return backoff.whole_seconds(backoff.full_jitter(retries, config.backoff_base, config.backoff_cap)), ceiling


def _fail(task: Task, message_id: int, channel: str, key: str, attempts: int, reason: str) -> str:
    try:
        store(settings().database_url).record(message_id, channel, key, "failed", attempts, reason)
    except Exception as exc:
        # The outcome must be recorded before the task ends: try again, as for any fault.
        log.warning("Message %s by %s: failure not recorded (%s)", message_id, channel, _reason(exc))
        _retry(task, backoff.whole_seconds(settings().backoff_cap), "failure not recorded", gave_up=reason)
    log.error("Message %s by %s failed: %s", message_id, channel, reason)
    raise DeliveryFailed(reason)


def _retry(task: Task, countdown: int, reason: str, **kwargs: Any) -> None:
    # Our own budget (NOTIFIER_MAX_ATTEMPTS) ends a delivery; Celery's cap only stops a loop.
    max_retries = 10 * settings().max_attempts
    try:
        task.retry(args=task.request.args, kwargs=kwargs or None, countdown=countdown, max_retries=max_retries,
                   exc=AttemptFailed(reason), argsrepr=REDACTED_ARGS)
    except Reject as exc:
        # The retry could not be published (the broker is away): back to the queue instead.
        raise Reject(exc.reason, requeue=True) from None


def _channel_task(channel: str) -> Task:
    config = settings()

    # Hard limit above the soft one: a hung provider call is interrupted, then retried. A soft
    # limit of 0 means none (as for code that cannot be interrupted).
    @shared_task(bind=True, base=DeliveryTask, name=f"notifier.send_{channel}",
                 soft_time_limit=config.soft_time_limit or None, time_limit=config.time_limit)
    def send(self: Task, message_id: int, message_key: str, recipient: int, address: str | None, body: str,
             delivered: bool = False, gave_up: str | None = None) -> str:
        return _run_channel(self, channel, message_id, message_key, recipient, address, body, delivered, gave_up)

    return send


send_push, send_email, send_sms = (_channel_task(channel) for channel in CHANNELS)
TASKS = {"push": send_push, "email": send_email, "sms": send_sms}


@shared_task(bind=True, base=DeliveryTask, name="notifier.send_notification", soft_time_limit=30, time_limit=45)
def send_notification(self: Task, message_id: int, message_key: str, recipient: int, body: str,
                      addresses: dict[str, Any]) -> list[str]:
    """Publish one task per channel; ``addresses[channel]`` is None when the user turned it off."""
    try:
        for channel in CHANNELS:
            TASKS[channel].apply_async(
                (message_id, message_key, recipient, addresses.get(channel), body), argsrepr=REDACTED_ARGS,
            )
    except Exception as exc:
        # Publishing all again is harmless: a channel task that finds its delivery settled, or
        # another task sending its e-mail, sends nothing.
        delay, _ = _backoff(self.request.retries)
        log.warning("Message %s: fan-out interrupted (%s); publishing again in %s s", message_id, _reason(exc), delay)
        _retry(self, delay, f"fan-out interrupted: {_reason(exc)}")
    log.info("Message %s fanned out to %s", message_id, ", ".join(CHANNELS))
    return list(CHANNELS)
