"""Progress of a running file, reported to the caller through a callback it sent.

Why a callback and not task state: the processor may not touch the API's database, and a
result backend would make the API poll the broker (rpc:// results can only be read by the
client that sent the task, so not by every gunicorn worker). Instead the caller passes a
signature of one of its own tasks, routed to its own queue (like ``link``); the processor
publishes it with ``{"rows", "percent"}`` at the start and then at most once per interval.
The caller's worker stores it, so any API process can answer GET from its database. The
reports share the callback queue with the final ``link``/``link_error`` message and are
published by the same process before it, so they arrive before it; a late report can never
reopen a finished file because the caller only applies it to an unfinished one.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Celery

log = logging.getLogger(__name__)


class Progress:
    """The ``tick`` of :func:`processor.csvstats.scan`: reports progress and keeps the pace."""

    def __init__(self, app: Celery, callback: dict[str, Any] | None, interval: float, max_rows_per_second: int) -> None:
        self.app = app
        self.callback = callback
        self.interval = interval
        self.max_rows_per_second = max_rows_per_second
        self.started = self.reported = time.monotonic()

    @property
    def tick_every(self) -> int:
        """Rows between two ticks: often enough for a smooth pace under a rows-per-second cap."""
        return max(1, min(1000, self.max_rows_per_second // 20)) if self.max_rows_per_second else 1000

    def start(self) -> None:
        self._report(0, 0.0)

    def __call__(self, rows: int, done_bytes: int, total_bytes: int) -> None:
        now = time.monotonic()
        if self.max_rows_per_second:
            ahead = rows / self.max_rows_per_second - (now - self.started)
            if ahead > 0:
                time.sleep(ahead)
        if now - self.reported >= self.interval:
            self.reported = now
            self._report(rows, 100.0 * done_bytes / total_bytes if total_bytes else 100.0)

    def _report(self, rows: int, percent: float) -> None:
        if self.callback is None:
            return
        report = {"rows": rows, "percent": round(min(percent, 100.0), 1)}
        self.app.signature(self.callback).clone(args=(report,)).apply_async()
        log.debug("Progress reported: %s", report)
