"""SQLAlchemy engines and migrations for the services that keep state (shared plumbing, not tracing)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, inspect
from sqlalchemy.engine import Engine


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


def migrate(engine: Engine, migrations: Path, version_table: str, baseline: str, first_table: str) -> None:
    """Bring a service's tables to its newest Alembic revision; safe when processes start together.

    ``version_table`` is the service's own (several services may share one database). A
    database made before the service had migrations (``first_table`` exists, no version table)
    is stamped at ``baseline``, the revision that describes it, and upgraded from there.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations))
    with _migration_lock(engine, version_table) as connection:
        config.attributes.update(connection=connection, version_table=version_table)
        tables = inspect(connection)
        if not tables.has_table(version_table) and tables.has_table(first_table):
            command.stamp(config, baseline)
        command.upgrade(config, "head")


def run_migrations() -> None:
    """The body of a service's Alembic ``env.py``: run on the connection ``migrate`` holds."""
    from alembic import context

    attributes = context.config.attributes
    context.configure(connection=attributes["connection"], version_table=attributes["version_table"],
                      render_as_batch=True)  # SQLite alters a table by copying it
    with context.begin_transaction():
        context.run_migrations()


@contextmanager
def _migration_lock(engine: Engine, name: str) -> Iterator[Connection]:
    """One process at a time migrates: an advisory lock on PostgreSQL, a file lock beside a
    SQLite file. Yields a connection in a transaction, committed at the end."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock(hashtext('{name}'))")
            yield connection
        return
    with open(f"{engine.url.database}.migrate.lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # released when the file closes
        with engine.begin() as connection:
            yield connection


def _write_ahead_log(connection: Any, _: Any) -> None:
    # Readers no longer block the writer, and a commit costs one fsync instead of several;
    # synchronous stays FULL, so a committed row survives a power cut.
    connection.execute("PRAGMA journal_mode=WAL")
