"""Tables created by several processes starting at the same moment, as a stack's processes do."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, Table, inspect
from threadline.database import create_tables, make_engine

PROCESSES = 6
metadata = MetaData()
TABLES = [Table(name, metadata, Column("id", Integer, primary_key=True)) for name in ("users", "messages", "files")]


def _create(url: str, start: multiprocessing.synchronize.Barrier) -> None:
    engine = make_engine(url)
    start.wait()
    try:
        create_tables(metadata, engine)
    except Exception:
        os._exit(1)
    os._exit(0)


def test_processes_starting_together_all_create_the_tables(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    for round_ in range(5):
        url = f"sqlite:///{tmp_path / f'round-{round_}.db'}"
        start = context.Barrier(PROCESSES)
        processes = [context.Process(target=_create, args=(url, start)) for _ in range(PROCESSES)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=60)
        assert [process.exitcode for process in processes] == [0] * PROCESSES
        assert sorted(inspect(make_engine(url)).get_table_names()) == sorted(table.name for table in TABLES)
