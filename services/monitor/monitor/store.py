"""Write merged rows: one transaction per batch, upserts keyed by task, attempt and request.

Rows a batch touches are read first (``load``) and merged in Python (``merge``); writing them
back twice writes the same values, so a batch committed again after a crash changes nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from monitor.merge import Batch, Row
from monitor.tables import attempts, consumer, requests, tasks, workers

# SQLite allows 32,766 parameters per statement; an IN list stays far below it.
_IN_CHUNK = 900
# The PostgreSQL advisory lock a batch holds until it commits (any number, the same everywhere).
_BATCH_LOCK = 7_070_001


def latest_beat(connection: Connection) -> float | None:
    """When a consumer last committed a batch or beat while idle; None if none ever did."""
    return connection.execute(select(func.max(consumer.c.beat_at))).scalar()


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self.insert = dialect.insert
        # Two-argument min and max: PostgreSQL spells them LEAST and GREATEST.
        self._least = func.least if dialect is postgresql else func.min
        self._greatest = func.greatest if dialect is postgresql else func.max

    def load(self, connection: Connection, task_ids: set[str]) -> Batch:
        """The stored tasks and attempts among ``task_ids``, locked until the batch commits."""
        if self.engine.dialect.name == "postgresql":
            # Two monitors may share the queue, and one task's events reach both: a task with
            # no row yet has nothing to lock, so batches take turns (SQLite's writes do anyway).
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _BATCH_LOCK})
        batch = Batch()
        ids = sorted(task_ids)
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            query = select(tasks).where(tasks.c.task_id.in_(chunk)).with_for_update()
            for row in connection.execute(query).mappings():
                batch.tasks[row["task_id"]] = dict(row)
                batch.previous[row["task_id"]] = row["state"]
            for row in connection.execute(select(attempts).where(attempts.c.task_id.in_(chunk))).mappings():
                attempt = dict(row)
                batch.attempts.setdefault(attempt.pop("task_id"), {})[attempt["attempt"]] = attempt
        return batch

    def save(self, connection: Connection, batch: Batch) -> None:
        touched = [batch.tasks[task_id] for task_id in sorted(batch.touched)]
        self._upsert(connection, tasks, touched, ["task_id"])
        rows = [
            {"task_id": task_id, **attempt}
            for task_id in sorted(batch.touched)
            for attempt in batch.attempts.get(task_id, {}).values()
        ]
        self._upsert(connection, attempts, rows, ["task_id", "attempt"])
        self._save_requests(connection, list(batch.requests.values()))
        self._save_workers(connection, list(batch.workers.values()))

    def _upsert(self, connection: Connection, table: Table, rows: list[Row], keys: list[str]) -> None:
        if not rows:
            return
        statement = self.insert(table)
        updates = {name: statement.excluded[name] for name in rows[0] if name not in keys}
        connection.execute(statement.on_conflict_do_update(index_elements=keys, set_=updates), rows)

    def _save_requests(self, connection: Connection, rows: list[Row]) -> None:
        # Merged in SQL: a request's rows are not loaded, and any two batches may touch it.
        if not rows:
            return
        statement = self.insert(requests)
        new, old = statement.excluded, requests.c
        updates: dict[str, Any] = {
            name: func.coalesce(new[name], old[name])
            for name in ("method", "path", "status", "duration_ms", "started_at")
        }
        updates["first_seen_at"] = self._least(old.first_seen_at, new.first_seen_at)
        updates["last_seen_at"] = self._greatest(old.last_seen_at, new.last_seen_at)
        updates["failures"] = old.failures + new.failures  # this batch's change
        connection.execute(statement.on_conflict_do_update(index_elements=["request_id"], set_=updates), rows)

    def _save_workers(self, connection: Connection, rows: list[Row]) -> None:
        if not rows:
            return
        statement = self.insert(workers)
        updates = {name: statement.excluded[name] for name in ("online", "last_seen_at", "active", "processed")}
        newer = statement.excluded.last_seen_at >= workers.c.last_seen_at
        upsert = statement.on_conflict_do_update(index_elements=["hostname"], set_=updates, where=newer)
        connection.execute(upsert, rows)

    def beat(self, connection: Connection, name: str, at: float, events: int, lag: float | None) -> None:
        """Record that the consumer ``name`` is alive and has stored ``events`` more events, the
        newest ``lag`` seconds old."""
        statement = self.insert(consumer).values(name=name, beat_at=at, events=events, lag_seconds=lag)
        updates = {"beat_at": statement.excluded.beat_at, "events": consumer.c.events + statement.excluded.events,
                   "lag_seconds": func.coalesce(statement.excluded.lag_seconds, consumer.c.lag_seconds)}
        connection.execute(statement.on_conflict_do_update(index_elements=["name"], set_=updates))
