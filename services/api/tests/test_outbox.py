"""The outbox's marks thread keeps marking whatever went wrong in an earlier round."""

from __future__ import annotations

import time

from api import outbox
from api.db import Message, open_database
from api.outbox import PublishedMarks, add_message
from sqlalchemy import select


def test_marks_thread_survives_any_error_in_a_round(tmp_path, caplog, monkeypatch):
    engine = open_database(f"sqlite:///{tmp_path / 'api.db'}")
    with engine.begin() as connection:
        first = add_message(connection, "rid-1", 1, 2, "hello", {}, None).id
        second = add_message(connection, "rid-2", 1, 2, "hello", {}, None).id
    real_mark = outbox.mark_published
    calls = []

    def mark_failing_once(*args):
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("not a database error")
        real_mark(*args)

    monkeypatch.setattr(outbox, "mark_published", mark_failing_once)
    marks = PublishedMarks(engine, Message.__table__, interval=0.05)

    marks.add(first)
    _wait(lambda: "published but not marked" in caplog.text)
    marks.add(second)
    _wait(lambda: _published(engine, second))
    assert not _published(engine, first)  # the relay publishes it again later


def _published(engine, message_id: int) -> bool:
    with engine.connect() as connection:
        return connection.scalar(select(Message.published_at).where(Message.id == message_id)) is not None


def _wait(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.05)
