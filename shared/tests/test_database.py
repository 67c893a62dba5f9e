"""Migrations run by several processes starting at the same moment, as a stack's processes do."""

from __future__ import annotations

import multiprocessing
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import inspect
from threadline.database import make_engine, migrate

PROCESSES = 6
MIGRATIONS = Path(__file__).parent / "migrations"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _migrate(url: str, start: multiprocessing.synchronize.Barrier) -> None:
    engine = make_engine(url)
    start.wait()
    try:
        migrate(engine, MIGRATIONS, "alembic_version_test", "0001", "users")
    except Exception:
        os._exit(1)
    os._exit(0)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    name = f"threadline_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_processes_starting_together_all_migrate_the_database(database_url: str) -> None:
    context = multiprocessing.get_context("fork")
    start = context.Barrier(PROCESSES)
    processes = [context.Process(target=_migrate, args=(database_url, start)) for _ in range(PROCESSES)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    assert [process.exitcode for process in processes] == [0] * PROCESSES
    engine = make_engine(database_url)
    assert sorted(inspect(engine).get_table_names()) == ["alembic_version_test", "files", "messages", "users"]
    engine.dispose()
