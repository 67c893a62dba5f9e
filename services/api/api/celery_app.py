"""The API's Celery app: publishes to other services by name, runs only its own callbacks."""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from flask import Flask
from threadline import deadletter, propagation
from threadline.conf import celery_config

from api.config import Settings

CALLBACK_QUEUE = "api"
# Queues the API publishes to; it consumes only CALLBACK_QUEUE.
QUEUES = (CALLBACK_QUEUE, "notifications", "processor")
ROUTES = {
    "api.*": {"queue": CALLBACK_QUEUE},
    "notifier.*": {"queue": "notifications"},
    "processor.*": {"queue": "processor"},
}


def celery_init_app(app: Flask, settings: Settings) -> Celery:
    """Create the Celery app whose tasks run inside ``app``'s context (Flask's pattern)."""

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.conf.update(celery_config(settings.broker_url, QUEUES))
    celery.conf.task_routes = ROUTES
    # Callbacks change the files table; nobody waits for their results.
    celery.conf.task_ignore_result = True
    # A POST waits at most a couple of seconds for a broker that is away; the outbox covers it.
    celery.conf.broker_connection_timeout = 2
    celery.set_default()
    deadletter.install(celery)
    propagation.install(celery)
    app.extensions["celery"] = celery
    return celery
