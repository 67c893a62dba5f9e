"""The API's settings, read once from the environment; a bad value stops start-up."""

from __future__ import annotations

from dataclasses import dataclass

from threadline.conf import env, env_int


@dataclass(frozen=True)
class Settings:
    database_url: str
    broker_url: str
    file_store: str
    max_body_bytes: int
    max_upload_bytes: int

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=env("DATABASE_URL", "sqlite:///data/threadline.db"),
            broker_url=env("BROKER_URL", "amqp://guest:guest@localhost:5672//"),
            file_store=env("FILE_STORE", "data/files"),
            max_body_bytes=env_int("API_MAX_BODY_BYTES", 64 * 1024),
            max_upload_bytes=env_int("API_MAX_UPLOAD_BYTES", 512 * 1024 * 1024),
        )
