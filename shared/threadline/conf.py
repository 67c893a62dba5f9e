"""Settings every service shares: environment reading and Celery's reliability defaults."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from kombu.entity import Exchange, Queue

# Local-development defaults; .env.example documents them.
DEFAULT_BROKER_URL = "amqp://guest:guest@localhost:5672//"
DEFAULT_DATABASE_URL = "sqlite:///data/threadline.db"


_Number = TypeVar("_Number", int, float)


class ConfigError(RuntimeError):
    """A setting is missing or malformed; raised at start-up, never later."""


def env(name: str, default: str | None = None) -> str:
    """The environment variable ``name``, or ``default``; fails fast when neither exists."""
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise ConfigError(f"{name} is not set (see .env.example)")
    return value


def env_int(name: str, default: int) -> int:
    """An integer setting; a malformed value stops the process at start-up."""
    return _env_number(name, default, int, "an integer")


def env_float(name: str, default: float) -> float:
    """A decimal setting; a malformed value stops the process at start-up."""
    return _env_number(name, default, float, "a number")


def _env_number(name: str, default: _Number, kind: Callable[[str], _Number], what: str) -> _Number:
    raw = env(name, str(default))
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {what}, not {raw!r}") from None


def broker_url() -> str:
    """BROKER_URL, or the local RabbitMQ's default vhost."""
    return env("BROKER_URL", DEFAULT_BROKER_URL)


def database_url() -> str:
    """DATABASE_URL, or a SQLite file under data/."""
    return env("DATABASE_URL", DEFAULT_DATABASE_URL)


# Where a task message goes when it can never be processed: rejected by its task, or returned
# to its queue more than DELIVERY_LIMIT times (its worker killed or past the hard limit).
DEAD_LETTER = "dead-letter"
DEFAULT_DELIVERY_LIMIT = 5


def task_queue(name: str, delivery_limit: int = DEFAULT_DELIVERY_LIMIT) -> Queue:
    """The durable queue ``name``: a quorum queue bound only to its own topic exchange.

    A quorum queue counts how often each message was handed out and dead-letters it past
    ``delivery_limit`` instead of redelivering it forever; its messages survive a broker
    killed with SIGKILL. The exchange is a topic one because Celery's native delayed delivery,
    which carries retries with a countdown on quorum queues, routes only through those.
    """
    return Queue(
        name, Exchange(name, type="topic", durable=True), routing_key=name, durable=True,
        queue_arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": DEAD_LETTER,
            # At-least-once dead-lettering: a message is removed only once the dead-letter
            # queue confirmed it (RabbitMQ 3.10+; it needs reject-publish on overflow).
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        },
    )


def dead_letter_queue() -> Queue:
    """The queue that keeps every dead-lettered task message until an operator re-drives it."""
    return Queue(
        DEAD_LETTER, Exchange(DEAD_LETTER, type="topic", durable=True), routing_key="#", durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )


def celery_config(broker_url: str, queues: tuple[str, ...]) -> dict[str, Any]:
    """Celery settings for at-least-once delivery with JSON only and explicit queues.

    An app declares the queues it consumes and those it publishes to, each bound once, to its
    own exchange: a task published before its consumer ever started is then kept, not dropped
    as unroutable.
    """
    delivery_limit = env_int("TASK_DELIVERY_LIMIT", DEFAULT_DELIVERY_LIMIT)
    return {
        "broker_url": broker_url,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {"confirm_publish": True},
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_queues": [task_queue(name, delivery_limit) for name in queues],
        "task_default_queue": queues[0],
        "task_create_missing_queues": False,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_hijack_root_logger": False,
        "enable_utc": True,
    }
