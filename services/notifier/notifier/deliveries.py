"""The deliveries table: one row per (message, channel), the notifier's only state.

The API reads it (read-only) to report each channel's state: columns message_id, channel,
state, attempts and last_error are that contract.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from sqlalchemy import DateTime, String, Text, UniqueConstraint, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from threadline.database import make_engine

# A delivery in one of these states is never attempted again.
FINAL = ("sent", "failed", "skipped")


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


class DeliveryStore:
    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_tables(self) -> None:
        Base.metadata.create_all(self.engine)

    def start_attempt(self, message_id: int, channel: str) -> int | None:
        """Count one more attempt and return the count; None when the delivery is already final."""
        if self._insert(message_id, channel, state="pending", attempts=1):
            return 1
        with self.sessions.begin() as session:
            counted = session.execute(
                update(Delivery)
                .where(*_key(message_id, channel), Delivery.state.not_in(FINAL))
                .values(attempts=Delivery.attempts + 1, updated_at=_now())
            )
            if counted.rowcount == 0:
                return None
            return session.scalar(select(Delivery.attempts).where(*_key(message_id, channel)))

    def finish(self, message_id: int, channel: str, state: str, error: str | None = None) -> None:
        """Record a final state, unless another run recorded one first."""
        with self.sessions.begin() as session:
            changed = session.execute(
                update(Delivery)
                .where(*_key(message_id, channel), Delivery.state.not_in(FINAL))
                .values(state=state, last_error=error, updated_at=_now())
            )
        if changed.rowcount == 0:
            # No row yet (a skipped channel is never attempted), or a final one: then this fails.
            self._insert(message_id, channel, state=state, last_error=error)

    def note_error(self, message_id: int, channel: str, error: str) -> None:
        with self.sessions.begin() as session:
            session.execute(update(Delivery).where(*_key(message_id, channel)).values(last_error=error))

    def _insert(self, message_id: int, channel: str, **values: object) -> bool:
        """Insert the delivery's row with ``values``; False when it exists already."""
        with self.sessions() as session:
            session.add(Delivery(message_id=message_id, channel=channel, **values))
            try:
                session.commit()
            except IntegrityError:
                return False
        return True


def _key(message_id: int, channel: str) -> tuple:  # type: ignore[type-arg]
    return Delivery.message_id == message_id, Delivery.channel == channel


_stores: dict[int, DeliveryStore] = {}


def store(database_url: str) -> DeliveryStore:
    """This process's store: connections are never shared across a pool's fork."""
    pid = os.getpid()
    if pid not in _stores:
        _stores.clear()
        _stores[pid] = DeliveryStore(database_url)
    return _stores[pid]
