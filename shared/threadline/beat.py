"""A beat scheduler that gives every due task a fresh request ID before beat logs it."""

from __future__ import annotations

from typing import Any

from celery.beat import PersistentScheduler

from threadline.context import request_context


class TracingScheduler(PersistentScheduler):
    """PersistentScheduler whose "Sending due task" line and message share one request ID."""

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        with request_context():
            super().apply_entry(entry, producer=producer)
