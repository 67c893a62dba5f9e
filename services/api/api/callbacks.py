"""Tasks the remote processor calls back by name; they run on the API's own worker."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from flask import current_app

from api.db import File

log = logging.getLogger(__name__)


@shared_task(name="api.file_processed")
def file_processed(result: dict[str, Any], file_id: int) -> None:
    _finish(file_id, "succeeded", result=result)
    log.info("File %s processed: %s rows", file_id, result.get("rows"))


@shared_task(name="api.file_failed")
def file_failed(failure: dict[str, Any], file_id: int) -> None:
    reason = f"{failure['exc_type']}: {failure['exc_message']}"
    _finish(file_id, "failed", error=reason)
    log.warning("File %s failed: %s", file_id, reason)


def _finish(file_id: int, status: str, **fields: Any) -> None:
    with current_app.extensions["db"].begin() as session:
        record = session.get(File, file_id)
        record.status = status
        for name, value in fields.items():
            setattr(record, name, value)
