"""The processor's Celery app: consumes its own queue, answers on the callers' queues."""

from __future__ import annotations

from celery import Celery

from threadline import propagation
from threadline.conf import celery_config, env

QUEUE = "processor"


def make_celery() -> Celery:
    # Callers name their callback queues in the signatures they send; they are declared here
    # too because this app creates no queue it was not told about.
    reply_queues = tuple(env("PROCESSOR_REPLY_QUEUES", "api").split(","))
    app = Celery("processor", include=["processor.tasks"])
    app.conf.update(celery_config(env("BROKER_URL", "amqp://guest:guest@localhost:5672//"), (QUEUE, *reply_queues)))
    return propagation.install(app)
