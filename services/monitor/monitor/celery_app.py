"""The monitor's own Celery app: the broker connection its consumer reads events through."""

from __future__ import annotations

from celery import Celery
from threadline.conf import celery_config

from monitor.config import Settings

# The monitor's own task queue (its scheduled jobs); it reads events from Settings.queue.
QUEUES = ("monitor",)


def make_celery(settings: Settings) -> Celery:
    app = Celery("monitor")
    app.conf.update(celery_config(settings.broker_url, QUEUES))
    app.conf.task_ignore_result = True
    return app
