"""Settings every service shares: environment reading and Celery's reliability defaults."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from kombu.entity import Queue

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


def celery_config(broker_url: str, queues: tuple[str, ...]) -> dict[str, Any]:
    """Celery settings for at-least-once delivery with JSON only and explicit queues."""
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
        "task_queues": [Queue(name, durable=True) for name in queues],
        "task_default_queue": queues[0],
        "task_create_missing_queues": False,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_hijack_root_logger": False,
        "enable_utc": True,
    }
