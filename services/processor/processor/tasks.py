"""The processor's tasks, called by name from other codebases.

Failures reach callers as ``link_error`` with these exception types, whose messages are meant
for people: ``MalformedFile`` ("line 7: ..."), ``OutsideFileStore`` ("... is not a file under
the file store"), ``TimedOut`` ("timed out after N s ...") and
``ProcessorCrashed`` ("processor crashed N times ...").
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from processor import attempts, csvstats, store
from processor.progress import Progress
from processor.settings import current_settings

log = logging.getLogger(__name__)


class TimedOut(RuntimeError):
    """The file took longer than the soft time limit."""


@shared_task(name="processor.process_file", bind=True)
def process_file(self: Any, path: str, progress: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate the CSV at ``path`` and return its statistics.

    ``progress``: a signature (as a dict) of the caller's task, published with
    ``{"rows", "percent"}`` while the file is processed (see :mod:`processor.progress`).
    """
    settings = current_settings()
    path = store.inside(path, settings.file_store)
    attempts.begin(path, settings.max_attempts)
    reporter = Progress(self.app, progress, settings.progress_interval, settings.max_rows_per_second)
    log.info("Processing %s", path)
    reporter.start()
    try:
        stats = csvstats.scan(path, reporter, reporter.tick_every, max_line=settings.max_line,
                              empty_values=settings.empty_values)
    except SoftTimeLimitExceeded:
        raise TimedOut(f"timed out after {settings.soft_time_limit} s") from None
    finally:
        attempts.end(path)
    log.info("Processed %s: %d rows, %d columns", path, stats["rows"], len(stats["columns"]))
    return stats


@shared_task(name="processor.check_header", ignore_result=False, soft_time_limit=10, time_limit=20)
def check_header(path: str) -> dict[str, Any]:
    """The columns of the CSV at ``path``, or ``{"error": reason}``: a quick synchronous check."""
    settings = current_settings()
    try:
        columns = csvstats.check_header(store.inside(path, settings.file_store), settings.max_line)
    except (csvstats.MalformedFile, store.OutsideFileStore, OSError) as exc:
        log.info("Header of %s rejected: %s", path, exc)
        return {"error": str(exc)}
    log.info("Header of %s accepted: %d columns", path, len(columns))
    return {"columns": columns}
