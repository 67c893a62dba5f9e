"""SQLAlchemy engines for the services that keep state (shared plumbing, not tracing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine


def make_engine(database_url: str) -> Engine:
    """An engine for ``database_url``; a SQLite file is shared safely by several processes."""
    if not database_url.startswith("sqlite:///"):
        return create_engine(database_url, pool_pre_ping=True)
    Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # gunicorn workers and Celery pool processes write the same file: wait for their locks.
    engine = create_engine(database_url, connect_args={"timeout": 30})
    event.listen(engine, "connect", _write_ahead_log)
    return engine


def _write_ahead_log(connection: Any, _: Any) -> None:
    # Readers no longer block the writer, and a commit costs one fsync instead of several;
    # synchronous stays FULL, so a committed row survives a power cut.
    connection.execute("PRAGMA journal_mode=WAL")
