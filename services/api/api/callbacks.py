"""Tasks the remote processor calls back by name; they run on the API's own worker.

Each changes a file only while it is unfinished (pending or processing), in one conditional
UPDATE: a redelivered callback (the worker lost after the commit, before the ack) or a late
progress report finds the file finished and changes nothing, so each outcome is applied once.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from celery import shared_task
from flask import current_app
from sqlalchemy import update

from api.db import File

log = logging.getLogger(__name__)
UNFINISHED = ("pending", "processing")
# The processor's own failure types, whose messages are written for people (see processor.tasks).
READABLE_FAILURES = frozenset({"MalformedFile", "OutsideFileStore", "TimedOut", "ProcessorCrashed"})


@shared_task(name="api.file_progress", ignore_result=True)
def file_progress(report: dict[str, Any], file_id: int) -> None:
    if finite_numbers(report["percent"]) is None:
        log.warning("File %s: a progress report without a finite percent ignored", file_id)
        return
    if _update_unfinished(file_id, status="processing", rows_done=report["rows"], percent=report["percent"]):
        log.info("File %s processing: %s rows, %s%%", file_id, report["rows"], report["percent"])


@shared_task(name="api.file_processed", ignore_result=True)
def file_processed(result: dict[str, Any], file_id: int) -> None:
    stored = finite_numbers(result)
    if _update_unfinished(file_id, status="succeeded", result=stored, rows_done=result["rows"], percent=100.0):
        log.info("File %s succeeded: %s rows", file_id, result["rows"])
    else:
        log.info("File %s was finished already; repeated success callback ignored", file_id)


@shared_task(name="api.file_failed", ignore_result=True)
def file_failed(failure: dict[str, Any], file_id: int) -> None:
    reason = failure_reason(failure)
    if _update_unfinished(file_id, status="failed", error=reason):
        log.warning("File %s failed: %s", file_id, reason)
    else:
        log.info("File %s was finished already; repeated failure callback ignored", file_id)


def failure_reason(failure: dict[str, Any]) -> str:
    """What a user reads for a failure forwarded by threadline's remote errback."""
    if failure["exc_type"] in READABLE_FAILURES:
        return str(failure["exc_message"])
    if failure["exc_type"] == "TimeLimitExceeded":  # the hard limit: the task ignored the soft one
        return "timed out (hard time limit exceeded)"
    if failure["exc_type"] == "FileNotFoundError":  # the upload was removed from the file store
        return "the uploaded file is gone: it was removed before it was processed"
    return f"{failure['exc_type']}: {failure['exc_message']}"


def finite_numbers(value: Any) -> Any:
    """``value`` with every infinite or NaN float replaced by None: JSON has no such numbers
    (Python writes them as Infinity and NaN, which JSON parsers and PostgreSQL reject), and
    another processor's version, or a row stored before it reported none, may hold them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite_numbers(item) for item in value]
    return value


def _update_unfinished(file_id: int, **values: Any) -> bool:
    with current_app.extensions["db"].begin() as session:
        outcome = session.execute(
            update(File).where(File.id == file_id, File.status.in_(UNFINISHED)).values(**values)
        )
    return bool(outcome.rowcount)
