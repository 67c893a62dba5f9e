"""The API's settings, read once from the environment; a bad value stops start-up."""

from __future__ import annotations

from dataclasses import dataclass

from threadline.conf import broker_url, database_url, env, env_int


@dataclass(frozen=True)
class Settings:
    database_url: str
    broker_url: str
    file_store: str
    max_body_bytes: int
    max_upload_bytes: int
    # Where the synchronous header check reads the processor's answer.
    result_backend: str
    file_check_timeout: int

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=database_url(),
            broker_url=broker_url(),
            file_store=env("FILE_STORE", "data/files"),
            max_body_bytes=env_int("API_MAX_BODY_BYTES", 64 * 1024),
            max_upload_bytes=env_int("API_MAX_UPLOAD_BYTES", 512 * 1024 * 1024),
            result_backend=env("RESULT_BACKEND", "rpc://"),
            file_check_timeout=env_int("API_FILE_CHECK_TIMEOUT", 5),
        )
