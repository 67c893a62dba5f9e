"""The deliveries table: one row per (message, channel), the notifier's only state.

The API reads it (read-only) to report each channel's state: columns message_id, channel,
idempotency_key, state, attempts and last_error are that contract.

An HTTP delivery is one upsert after its provider call: a task killed between call and write
runs again, and the provider's idempotency key keeps it from sending twice. An e-mail has no
such key at the receiving end, so its attempt first claims the row (state ``sending``, the
task's ID): a redelivered task finds its own claim and knows that mail may have gone out
already, and a second task for the same delivery (a fan-out run twice) finds another task's
claim and leaves the mail to it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import DateTime, String, Text, UniqueConstraint, bindparam, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from threadline.database import create_tables, make_engine

# A delivery in one of these states is never attempted again.
FINAL = ("sent", "failed", "skipped")
_NOT_FINAL = f"deliveries.state NOT IN ({', '.join(repr(state) for state in FINAL)})"
_COLUMNS = "message_id, channel, idempotency_key, state, attempts, last_error, claimed_by, updated_at"
_VALUES = ":message_id, :channel, :key, :state, :attempts, :last_error, :claimed_by, :updated_at"
# SQLite and PostgreSQL spell an upsert alike. Text rather than the dialects' insert() with
# on_conflict_do_update(): SQLAlchemy caches no compiled form of those, so every task would
# compile the statement again, which costs more than running it.
_UPSERT = text(
    f"INSERT INTO deliveries ({_COLUMNS}) VALUES ({_VALUES})"
    " ON CONFLICT (message_id, channel) DO UPDATE SET state = excluded.state, attempts = excluded.attempts,"
    " last_error = excluded.last_error, claimed_by = excluded.claimed_by, updated_at = excluded.updated_at"
    f" WHERE {_NOT_FINAL}"
).bindparams(bindparam("updated_at", type_=DateTime(timezone=True)))
# A claim is taken over only from this task itself or from one that stopped renewing it.
_CLAIM = text(
    f"INSERT INTO deliveries ({_COLUMNS}) VALUES ({_VALUES})"
    " ON CONFLICT (message_id, channel) DO UPDATE SET state = excluded.state, attempts = excluded.attempts,"
    " claimed_by = excluded.claimed_by, updated_at = excluded.updated_at"
    f" WHERE {_NOT_FINAL} AND (deliveries.state <> 'sending' OR deliveries.claimed_by = :claimed_by"
    " OR deliveries.updated_at < :stale_before)"
).bindparams(bindparam("updated_at", type_=DateTime(timezone=True)),
             bindparam("stale_before", type_=DateTime(timezone=True)))


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("message_id", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(index=True)
    channel: Mapped[str] = mapped_column(String(8))
    # What the provider deduplicates by: the message's UUID and the channel.
    idempotency_key: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The task ID of the attempt now sending an e-mail.
    claimed_by: Mapped[str | None] = mapped_column(String(160), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class Current(NamedTuple):
    state: str
    claimed_by: str | None
    updated_at: datetime


# Built once, like _UPSERT: SQLAlchemy then compiles it once per process, not once per task.
_CURRENT = select(Delivery.state, Delivery.claimed_by, Delivery.updated_at).where(
    Delivery.message_id == bindparam("message_id"), Delivery.channel == bindparam("channel")
)


class DeliveryStore:
    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)

    def create_tables(self) -> None:
        create_tables(Base.metadata, self.engine)

    def current(self, message_id: int, channel: str) -> Current | None:
        """The delivery's state now, or None before its first attempt."""
        with self.engine.connect() as connection:
            row = connection.execute(_CURRENT, {"message_id": message_id, "channel": channel}).first()
        return None if row is None else Current(*row)

    def record(self, message_id: int, channel: str, key: str, state: str, attempts: int,
               error: str | None = None) -> None:
        """Record the delivery's state after ``attempts`` attempts; a final state is never overwritten."""
        row = {"message_id": message_id, "channel": channel, "key": key, "state": state,
               "attempts": attempts, "last_error": error, "claimed_by": None, "updated_at": _now()}
        with self.engine.begin() as connection:
            connection.execute(_UPSERT, row)

    def claim(self, message_id: int, channel: str, key: str, task_id: str, attempts: int,
              stale_after: timedelta) -> bool:
        """Mark the delivery as being sent by ``task_id``; False when another live task has it
        (or it is final)."""
        now = _now()
        row = {"message_id": message_id, "channel": channel, "key": key, "state": "sending",
               "attempts": attempts, "last_error": None, "claimed_by": task_id, "updated_at": now,
               "stale_before": now - stale_after}
        with self.engine.begin() as connection:
            return bool(connection.execute(_CLAIM, row).rowcount)


_stores: dict[int, DeliveryStore] = {}


def store(database_url: str) -> DeliveryStore:
    """This process's store: connections are never shared across a pool's fork."""
    pid = os.getpid()
    if pid not in _stores:
        _stores.clear()
        _stores[pid] = DeliveryStore(database_url)
    return _stores[pid]
