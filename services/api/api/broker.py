"""Publishing from a request or the relay: never held for long, whatever the broker does.

A broker that is away fails the publish after one quick retry; one that takes the message but
does not confirm it (a memory or disk alarm blocks its publishers) fails it after the confirm
timeout. Either way the caller's outbox row stays unpublished and the relay publishes it later.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
# Each of the two attempts waits this long for the broker's confirm.
CONFIRM_TIMEOUT_SECONDS = 2


def send_task(celery: Celery, name: str, **options: Any) -> Any:
    """``celery.send_task(name, **options)``, bounded in time; raises what it raises."""
    with celery.producer_or_acquire() as producer:
        try:
            return celery.send_task(name, retry=True, retry_policy=RETRY_POLICY,
                                    confirm_timeout=CONFIRM_TIMEOUT_SECONDS, producer=producer, **options)
        except Exception:
            # A broker that blocks the connection would not answer its close either: the
            # pool's graceful close would wait forever. Drop the connection without it.
            producer.connection.collect()
            raise
