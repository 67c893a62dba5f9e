"""Migrations run by several processes starting at the same moment, as a stack's processes do."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect
from threadline.database import make_engine, migrate

from devtools.private_stack import postgres_database

PROCESSES = 6
MIGRATIONS = Path(__file__).parent / "migrations"


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
    with postgres_database("threadline_test") as url:
        yield url


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
