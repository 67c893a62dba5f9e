"""SQLAlchemy engines for the services that keep state (shared plumbing, not tracing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

# Processes starting together (gunicorn workers, a worker, the relay) each create the tables;
# each lost race means another process created one, so a few rounds always suffice.
_CREATE_ATTEMPTS = 10


def make_engine(database_url: str) -> Engine:
    """An engine for ``database_url``; a SQLite file is shared safely by several processes.

    Its errors leave out the statement's bound values: a traceback in a log line must not
    carry a message body, an address or a phone number.
    """
    if not database_url.startswith("sqlite:///"):
        return create_engine(database_url, pool_pre_ping=True, hide_parameters=True)
    Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # gunicorn workers and Celery pool processes write the same file: wait for their locks.
    engine = create_engine(database_url, connect_args={"timeout": 30}, hide_parameters=True)
    event.listen(engine, "connect", _write_ahead_log)
    return engine


def create_tables(metadata: MetaData, engine: Engine) -> None:
    """Create the tables of ``metadata`` that are missing; safe when several processes do it at once."""
    for attempt in range(1, _CREATE_ATTEMPTS + 1):
        try:
            metadata.create_all(engine)
            return
        except DBAPIError:
            # Another process created a table between this one's check and its CREATE
            # ("already exists"): the next round's check sees it.
            if attempt == _CREATE_ATTEMPTS:
                raise


def _write_ahead_log(connection: Any, _: Any) -> None:
    # Readers no longer block the writer, and a commit costs one fsync instead of several;
    # synchronous stays FULL, so a committed row survives a power cut.
    connection.execute("PRAGMA journal_mode=WAL")
