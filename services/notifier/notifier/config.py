"""The notifier's settings, read once per process from the environment."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from threadline.conf import ConfigError, database_url, env, env_float, env_int


@dataclass(frozen=True)
class Settings:
    database_url: str
    push_url: str
    sms_url: str
    smtp_host: str
    smtp_port: int
    provider_timeout: float
    max_attempts: int
    backoff_base: float
    backoff_cap: float
    soft_time_limit: float
    time_limit: float


@functools.cache
def settings() -> Settings:
    result = Settings(
        database_url=database_url(),
        push_url=env("PUSH_PROVIDER_URL", "http://127.0.0.1:8090/push"),
        sms_url=env("SMS_PROVIDER_URL", "http://127.0.0.1:8090/sms"),
        smtp_host=env("SMTP_HOST", "127.0.0.1"),
        smtp_port=env_int("SMTP_PORT", 8025),
        provider_timeout=env_float("PROVIDER_TIMEOUT_SECONDS", 10.0),
        max_attempts=env_int("NOTIFIER_MAX_ATTEMPTS", 8),
        backoff_base=env_float("NOTIFIER_BACKOFF_BASE_SECONDS", 1.0),
        backoff_cap=env_float("NOTIFIER_BACKOFF_CAP_SECONDS", 60.0),
        soft_time_limit=env_float("NOTIFIER_SOFT_TIME_LIMIT_SECONDS", 30.0),
        time_limit=env_float("NOTIFIER_TIME_LIMIT_SECONDS", 45.0),
    )
    if result.max_attempts < 1 or result.backoff_base <= 0 or result.backoff_cap < result.backoff_base:
        raise ConfigError("NOTIFIER_MAX_ATTEMPTS >= 1 and 0 < NOTIFIER_BACKOFF_BASE_SECONDS <= ..._CAP_SECONDS")
    return result
