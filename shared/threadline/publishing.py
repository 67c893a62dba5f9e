"""Publishing from a web request or a relay: never held for long, whatever the broker does.

A broker that is away fails a publish after one quick retry; one that takes the message but
does not confirm it (a memory or disk alarm blocks its publishers) fails it after the confirm
timeout. Either way the caller decides what to do: an outbox keeps its row for a relay, a
request event is dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
# Each of the two attempts waits this long for the broker's confirm.
CONFIRM_TIMEOUT_SECONDS = 2


@contextmanager
def bounded_producer(celery: Any) -> Iterator[Any]:
    """A producer of ``celery``'s pool whose connection is dropped when a publish with it fails.

    A broker that blocks the connection would not answer its close either: the pool's graceful
    close would wait forever.
    """
    with celery.producer_or_acquire() as producer:
        try:
            yield producer
        except Exception:
            producer.connection.collect()
            raise


def send_task(celery: Any, name: str, **options: Any) -> Any:
    """``celery.send_task(name, **options)``, bounded in time; raises what it raises."""
    with bounded_producer(celery) as producer:
        return celery.send_task(name, retry=True, retry_policy=RETRY_POLICY,
                                confirm_timeout=CONFIRM_TIMEOUT_SECONDS, producer=producer, **options)
