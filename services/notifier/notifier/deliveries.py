"""The deliveries table: one row per (message, channel), the notifier's only state.

The API reads it (read-only) to report each channel's state: columns message_id, channel,
state, attempts and last_error are that contract.

Each outcome is one upsert, one commit: a channel task reads the state before it calls the
provider and writes once after. A task killed between the two simply runs again; the
provider's idempotency key, not this table, keeps it from sending twice.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from sqlalchemy import DateTime, String, Text, UniqueConstraint, bindparam, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from threadline.database import create_tables, make_engine

# A delivery in one of these states is never attempted again.
FINAL = ("sent", "failed", "skipped")
# SQLite and PostgreSQL spell an upsert alike. Text rather than the dialects' insert() with
# on_conflict_do_update(): SQLAlchemy 2.0 caches no compiled form of those, so every task
# would compile the statement again, which costs more than running it.
_UPSERT = text(
    "INSERT INTO deliveries (message_id, channel, state, attempts, last_error, updated_at)"
    " VALUES (:message_id, :channel, :state, :attempts, :last_error, :updated_at)"
    " ON CONFLICT (message_id, channel) DO UPDATE SET state = excluded.state, attempts = excluded.attempts,"
    " last_error = excluded.last_error, updated_at = excluded.updated_at"
    f" WHERE deliveries.state NOT IN ({', '.join(repr(state) for state in FINAL)})"
).bindparams(bindparam("updated_at", type_=DateTime(timezone=True)))


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
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


# Built once, like _UPSERT: SQLAlchemy then compiles it once per process, not once per task.
_STATE = select(Delivery.state).where(
    Delivery.message_id == bindparam("message_id"), Delivery.channel == bindparam("channel")
)


class DeliveryStore:
    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)

    def create_tables(self) -> None:
        create_tables(Base.metadata, self.engine)

    def is_final(self, message_id: int, channel: str) -> bool:
        """True once the delivery reached a state that is never attempted again."""
        with self.engine.connect() as connection:
            state = connection.scalar(_STATE, {"message_id": message_id, "channel": channel})
        return state in FINAL

    def record(self, message_id: int, channel: str, state: str, attempts: int, error: str | None = None) -> None:
        """Record the delivery's state after ``attempts`` attempts; a final state is never overwritten."""
        row = {"message_id": message_id, "channel": channel, "state": state, "attempts": attempts,
               "last_error": error, "updated_at": _now()}
        with self.engine.begin() as connection:
            connection.execute(_UPSERT, row)


_stores: dict[int, DeliveryStore] = {}


def store(database_url: str) -> DeliveryStore:
    """This process's store: connections are never shared across a pool's fork."""
    pid = os.getpid()
    if pid not in _stores:
        _stores.clear()
        _stores[pid] = DeliveryStore(database_url)
    return _stores[pid]
