"""The processor's Celery app: consumes its own queue, answers on the callers' queues."""

from __future__ import annotations

from celery import Celery
from threadline import deadletter, propagation
from threadline.conf import celery_config

from processor.settings import current_settings

QUEUE = "processor"
# Past the soft limit the task reports "timed out"; the hard limit only catches a task that
# ignores it.
HARD_LIMIT_GRACE = 30


def make_celery() -> Celery:
    settings = current_settings()
    app = Celery("processor", include=["processor.tasks"])
    app.conf.update(celery_config(settings.broker_url, (QUEUE, *settings.reply_queues)))
    app.conf.update(
        result_backend=settings.result_backend,
        # Only the synchronous header check has a caller waiting for its result; everything
        # else answers through callbacks.
        task_ignore_result=True,
        task_soft_time_limit=settings.soft_time_limit,
        task_time_limit=settings.soft_time_limit + HARD_LIMIT_GRACE,
    )
    deadletter.install(app)
    return propagation.install(app)
