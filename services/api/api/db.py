"""The API's tables and its database session."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import JSON, DateTime, Engine, String, Text, UniqueConstraint, func
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from threadline.database import make_engine, migrate

from api.errors import ApiError


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


_Row = TypeVar("_Row", bound=Base)
# Every id column is an INTEGER, 32 bits in PostgreSQL: an ID beyond it names no row, and
# handing it to the database would fail there instead of at the edge.
MAX_ID = 2**31 - 1


class User(Base):
    """A recipient and sender of messages; a channel is on only when its address is known."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254), nullable=True, index=True)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    device_token: Mapped[str | None] = mapped_column(String(255), nullable=True)
    push_enabled: Mapped[bool] = mapped_column(default=False)
    email_enabled: Mapped[bool] = mapped_column(default=False)
    sms_enabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Message(Base):
    """A message and its outbox marks, all times on the database's clock.

    ``key`` (a UUID) names the message to the providers: it is the root of each channel's
    idempotency key, unique across databases and environments. ``addresses`` are the
    recipient's, as they were when the message was accepted. ``published_at`` stays empty
    until the broker confirmed the task; ``settled_at`` is set once every channel is final.
    """

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("sender", "client_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    sender: Mapped[int]
    recipient: Mapped[int]
    body: Mapped[str] = mapped_column(Text)
    addresses: Mapped[dict] = mapped_column(JSON)
    # The client's Idempotency-Key header, scoped per sender.
    client_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    sweeps: Mapped[int] = mapped_column(default=0)


class File(Base):
    """An upload and what the processor made of it.

    status: pending -> processing -> succeeded (``result`` holds the statistics) or failed
    (``error`` holds the reason). succeeded and failed are final: callbacks change only an
    unfinished file, which makes a redelivered callback harmless.
    """

    __tablename__ = "files"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    rows_done: Mapped[int] = mapped_column(default=0)
    percent: Mapped[float] = mapped_column(default=0.0)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Empty until the broker confirmed the processor's task (the relay publishes it otherwise).
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


def get_or_404(session: Session, model: type[_Row], row_id: int, what: str) -> _Row:
    """The row of ``model`` with ``row_id``; a 404 naming ``what`` when there is none."""
    row = session.get(model, row_id) if 1 <= row_id <= MAX_ID else None
    if row is None:
        raise ApiError(404, f"No {what} with id {row_id}")
    return row


MIGRATIONS = Path(__file__).parent / "migrations"


def open_database(database_url: str) -> Engine:
    """The engine for ``database_url``, its tables migrated to the newest revision."""
    engine = make_engine(database_url)
    migrate(engine, MIGRATIONS, "alembic_version_api", baseline="0001", first_table="users")
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker:
    """Sessions whose rows stay readable after commit (views serialize them afterwards)."""
    return sessionmaker(engine, expire_on_commit=False)
