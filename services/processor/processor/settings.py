"""The processor's settings, read from the environment; a bad value stops the worker at start-up."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from threadline.conf import ConfigError, broker_url, env, env_int

from processor.csvstats import MAX_LINE


@dataclass(frozen=True)
class Settings:
    broker_url: str
    # Callers' callback queues: this app declares no queue it was not told about.
    reply_queues: tuple[str, ...]
    # Where synchronous callers (the API's header check) read results.
    result_backend: str
    soft_time_limit: int
    # Cap on rows per second per file so one huge file cannot saturate a shared disk; 0: none.
    max_rows_per_second: int
    # Deliveries of one file that may end in a crash before it is failed for good.
    max_attempts: int
    progress_interval: float
    # The only directory tasks may read from.
    file_store: str
    # Longest line of a file, in characters; a longer one fails the file with its line number.
    max_line: int
    # Values that count as empty besides "" (say NA,N/A); none by default.
    empty_values: frozenset[str]

    @classmethod
    def from_env(cls) -> Settings:
        settings = cls(
            broker_url=broker_url(),
            reply_queues=tuple(name for name in env("PROCESSOR_REPLY_QUEUES", "api").split(",") if name),
            result_backend=env("RESULT_BACKEND", "rpc://"),
            soft_time_limit=env_int("PROCESSOR_SOFT_TIME_LIMIT", 600),
            max_rows_per_second=env_int("PROCESSOR_MAX_ROWS_PER_SECOND", 0),
            max_attempts=env_int("PROCESSOR_MAX_ATTEMPTS", 3),
            progress_interval=env_int("PROCESSOR_PROGRESS_MS", 1000) / 1000,
            file_store=env("FILE_STORE", "data/files"),
            max_line=env_int("PROCESSOR_MAX_LINE_LENGTH", MAX_LINE),
            empty_values=frozenset(value for value in os.environ.get("PROCESSOR_EMPTY_VALUES", "").split(",") if value),
        )
        at_least_one = (settings.soft_time_limit, settings.max_attempts, settings.max_line)
        if min(at_least_one) < 1 or settings.max_rows_per_second < 0:
            raise ConfigError(
                "PROCESSOR_SOFT_TIME_LIMIT, PROCESSOR_MAX_ATTEMPTS and PROCESSOR_MAX_LINE_LENGTH must be at least 1, "
                "PROCESSOR_MAX_ROWS_PER_SECOND at least 0"
            )
        return settings


@functools.cache
def current_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings.from_env()
