"""The notifier's Celery app: one queue for fan-out, one per channel."""

from __future__ import annotations

from typing import Any

from celery import Celery, signals
from threadline import deadletter, propagation
from threadline.conf import broker_url, celery_config

from notifier.config import settings
from notifier.deliveries import store

CHANNELS = ("push", "email", "sms")
QUEUES = ("notifications", *CHANNELS)


def make_celery() -> Celery:
    app = Celery("notifier", include=["notifier.tasks"])
    app.conf.update(celery_config(broker_url(), QUEUES))
    app.conf.task_routes = {f"notifier.send_{channel}": {"queue": channel} for channel in CHANNELS}
    # The deliveries table is the outcome; a stored result (the CLI takes RESULT_BACKEND from
    # the environment) would cost a message per task that nobody reads.
    app.conf.task_ignore_result = True
    deadletter.install(app)
    return propagation.install(app)


@signals.worker_init.connect(weak=False, dispatch_uid="notifier.tables")
def _create_tables(**_: Any) -> None:
    # Once, in the main process, before the pool forks: children never race to create it.
    store(settings().database_url).create_tables()
