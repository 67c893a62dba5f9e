"""The notifier's Celery app: one queue for fan-out, one per channel."""

from __future__ import annotations

from celery import Celery

from threadline import propagation
from threadline.conf import celery_config, env

CHANNELS = ("push", "email", "sms")
QUEUES = ("notifications", *CHANNELS)


def make_celery() -> Celery:
    app = Celery("notifier", include=["notifier.tasks"])
    app.conf.update(celery_config(env("BROKER_URL", "amqp://guest:guest@localhost:5672//"), QUEUES))
    app.conf.task_routes = {f"notifier.send_{channel}": {"queue": channel} for channel in CHANNELS}
    return propagation.install(app)
