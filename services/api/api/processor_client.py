"""The remote processor as the API sees it: publishing a file's work, with its callbacks."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from threadline import publishing
from threadline.callbacks import remote_errback

from api.callbacks import file_failed, file_processed, file_progress
from api.celery_app import CALLBACK_QUEUE

log = logging.getLogger(__name__)
TASK = "processor.process_file"


def publish_file(celery: Celery, file: Any) -> bool:
    """Publish the processing of ``file`` (a files row); False (and logged) when the broker failed.

    Each callback runs on the API's worker (its queue named here); the errback is wrapped so
    that the processor, which cannot import it, still sends it the real failure.
    """
    try:
        publishing.send_task(
            celery,
            TASK,
            args=[file.path],
            kwargs={"progress": dict(file_progress.s(file.id).set(queue=CALLBACK_QUEUE))},
            link=file_processed.s(file.id).set(queue=CALLBACK_QUEUE),
            link_error=remote_errback(file_failed.s(file.id).set(queue=CALLBACK_QUEUE)),
        )
    except Exception as exc:
        log.warning("File %s not published yet (%s); the outbox relay will publish it", file.id, exc)
        return False
    return True
