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
    # Where trace links in alerts point.
    public_url: str
    # Alerts: a PagerDuty Events API v2 endpoint (or any webhook taking its JSON) and its key.
    alert_webhook_url: str
    alert_routing_key: str
    alert_timeout: float
    alert_max_attempts: int
    alert_backoff_base: float
    alert_backoff_cap: float
    # Added to the failure time when choosing its dedup hour, and to now for the report; tests
    # move the clock with it.
    clock_offset: float
    # The daily report: to whom, from whom, through which SMTP server, at which UTC hour.
    report_to: str
    report_from: str
    smtp_host: str
    smtp_port: int
    report_hour: int

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
            public_url=env("MONITOR_PUBLIC_URL", "http://127.0.0.1:8070").rstrip("/"),
            alert_webhook_url=env("ALERT_WEBHOOK_URL", "http://127.0.0.1:8090/v2/enqueue"),
            alert_routing_key=env("ALERT_ROUTING_KEY", "threadline-local-routing-key-000"),
            alert_timeout=env_float("ALERT_TIMEOUT_SECONDS", 10.0),
            alert_max_attempts=env_int("ALERT_MAX_ATTEMPTS", 8),
            alert_backoff_base=env_float("ALERT_BACKOFF_BASE_SECONDS", 1.0),
            alert_backoff_cap=env_float("ALERT_BACKOFF_CAP_SECONDS", 300.0),
            clock_offset=env_float("MONITOR_CLOCK_OFFSET_SECONDS", 0.0),
            report_to=env("REPORT_TO", "oncall@threadline.local"),
            report_from=env("REPORT_FROM", "monitor@threadline.local"),
            smtp_host=env("SMTP_HOST", "127.0.0.1"),
            smtp_port=env_int("SMTP_PORT", 8025),
            report_hour=env_int("REPORT_HOUR", 7),
        )
        if settings.queue_max_length < 1 or settings.batch_size < 1 or settings.flush_ms < 1:
            raise ConfigError("MONITOR_QUEUE_MAX_LENGTH, MONITOR_BATCH_SIZE and MONITOR_FLUSH_MS must be >= 1")
        if settings.alert_max_attempts < 1 or not 0 < settings.alert_backoff_base <= settings.alert_backoff_cap:
            raise ConfigError("ALERT_MAX_ATTEMPTS >= 1 and 0 < ALERT_BACKOFF_BASE_SECONDS <= ..._CAP_SECONDS")
        if not 0 <= settings.report_hour <= 23:
            raise ConfigError("REPORT_HOUR must be an hour of the day, 0 to 23 (UTC)")
        if settings.retention_days <= 0:
            raise ConfigError("MONITOR_RETENTION_DAYS must be > 0")
        return settings
