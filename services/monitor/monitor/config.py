"""The monitor's settings, read once per process from the environment; a bad value stops start-up."""

from __future__ import annotations

from dataclasses import dataclass

from threadline.conf import ConfigError, broker_url, database_url, env, env_float, env_int


@dataclass(frozen=True)
class Settings:
    broker_url: str
    database_url: str
    # The named, durable queue bound to Celery's event exchange, and its bound (see .env.example).
    queue: str
    queue_max_length: int
    # A batch is committed when it holds batch_size events or its first event is flush_ms old.
    batch_size: int
    flush_ms: int
    retention_days: float
    flower_url: str
    # How stale the consumer's heartbeat may be before /api/health calls it gone.
    consumer_stale_seconds: float

    @classmethod
    def from_env(cls) -> Settings:
        settings = cls(
            broker_url=broker_url(),
            database_url=database_url(),
            queue=env("MONITOR_QUEUE", "threadline.monitor.events"),
            queue_max_length=env_int("MONITOR_QUEUE_MAX_LENGTH", 1_000_000),
            batch_size=env_int("MONITOR_BATCH_SIZE", 500),
            flush_ms=env_int("MONITOR_FLUSH_MS", 100),
            retention_days=env_float("MONITOR_RETENTION_DAYS", 7.0),
            flower_url=env("MONITOR_FLOWER_URL", "http://127.0.0.1:5555").rstrip("/"),
            consumer_stale_seconds=env_float("MONITOR_CONSUMER_STALE_SECONDS", 15.0),
        )
        if settings.queue_max_length < 1 or settings.batch_size < 1 or settings.flush_ms < 1:
            raise ConfigError("MONITOR_QUEUE_MAX_LENGTH, MONITOR_BATCH_SIZE and MONITOR_FLUSH_MS must be >= 1")
        if settings.retention_days <= 0:
            raise ConfigError("MONITOR_RETENTION_DAYS must be > 0")
        return settings
