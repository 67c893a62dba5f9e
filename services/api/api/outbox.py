"""The transactional outbox: a message or file is committed first and published after.

A row is committed with ``published_at`` empty; it is set once the broker confirmed the task.
Whatever is still unpublished after a grace period (the broker was down, the process died
between commit and publish) is published by the relay (``api.relay_rounds``). Publishing twice
is harmless: the notifier's deliveries are idempotent per (message, channel), and a file's
callbacks change only an unfinished file.

A POST does not wait for its mark: ``PublishedMarks`` sets it for every row its process
published in the last fraction of a second in one UPDATE, so a request commits once.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, func, insert, select, update

from api.db import File, Message

log = logging.getLogger(__name__)
MESSAGES, FILES = Message.__table__, File.__table__
# Built once: SQLAlchemy then compiles each statement once per process, not once per request.
INSERT = insert(MESSAGES).returning(*MESSAGES.c)
BY_CLIENT_KEY = select(MESSAGES).where(
    MESSAGES.c.sender == bindparam("sender"), MESSAGES.c.client_key == bindparam("client_key")
)


def add_message(connection: Connection, request_id: str, sender: int, recipient: int, body: str,
                addresses: dict[str, str | None], client_key: str | None) -> Any:
    """Insert an unpublished message; return its row."""
    values = {"key": uuid.uuid4().hex, "request_id": request_id, "sender": sender, "recipient": recipient,
              "body": body, "addresses": addresses, "client_key": client_key}
    return connection.execute(INSERT, values).one()


def by_client_key(connection: Connection, sender: int, client_key: str) -> Any:
    """The message ``sender`` sent with this Idempotency-Key, or None."""
    return connection.execute(BY_CLIENT_KEY, {"sender": sender, "client_key": client_key}).first()


def database_now(connection: Connection) -> datetime:
    """The database's clock: every outbox time is read and compared on it, never a host's."""
    return connection.execute(select(func.now())).scalar_one()  # type: ignore[no-any-return]


def mark_published(engine: Engine, table: Table, ids: list[int]) -> None:
    """Set ``published_at`` of these rows in one statement."""
    statement = update(table).where(table.c.id.in_(ids)).values(published_at=func.now())
    with engine.begin() as connection:
        connection.execute(statement)


class PublishedMarks:
    """Marks the rows this process published, every ``interval`` seconds, in a thread.

    A mark that never lands (the process was killed first, the database was away) costs one
    more publish by the relay after its grace period, far longer than ``interval``.
    """

    def __init__(self, engine: Engine, table: Table, interval: float = 0.2) -> None:
        self._engine, self._table, self._interval = engine, table, interval
        self._pending: list[int] = []
        self._lock = threading.Lock()
        self._thread_pid = 0
        atexit.register(self.flush)

    def add(self, row_id: int) -> None:
        with self._lock:
            self._pending.append(row_id)
            # Started by the first mark of each process: gunicorn may fork after the app exists.
            if self._thread_pid != os.getpid():
                self._thread_pid = os.getpid()
                threading.Thread(target=self._run, name=f"outbox-marks-{self._table.name}", daemon=True).start()

    def flush(self) -> None:
        with self._lock:
            ids, self._pending = self._pending, []
        if not ids:
            return
        try:
            mark_published(self._engine, self._table, ids)
        except Exception as exc:
            # The tasks are out: the relay publishes them once more, which is harmless.
            log.warning("%s %s published but not marked (%s)", self._table.name, ids, exc)

    def _run(self) -> None:
        while True:
            time.sleep(self._interval)
            self.flush()


def unpublished(table: Table, batch: int) -> Any:
    """Rows of ``table`` still unpublished at :cutoff, oldest first, locked for this relay.

    On PostgreSQL a second relay skips the rows this one holds (SKIP LOCKED); SQLite has one
    writer at a time and no row locks, so two relays there may publish a row twice (harmless).
    """
    return (
        select(table).where(table.c.published_at.is_(None), table.c.created_at < bindparam("cutoff"))
        .order_by(table.c.id).limit(batch).with_for_update(skip_locked=True)
    )
