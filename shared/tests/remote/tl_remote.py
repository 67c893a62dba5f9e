"""Another codebase: shares no code with tl_caller, only threadline. Its task always fails."""

from __future__ import annotations

import logging
import os

from celery import Celery
from threadline import logs, propagation
from threadline.conf import celery_config

logs.setup_celery_logging("remote")

# The caller's queue is declared here too: the remote worker publishes callbacks to it.
app = Celery("tl_remote")
app.conf.update(celery_config(os.environ["BROKER_URL"], ("remote", "caller")))
propagation.install(app)
log = logging.getLogger("tl_remote")


@app.task(name="remote.fail")
def fail(value: str) -> None:
    log.info("remote.fail got %s", value)
    raise RuntimeError(f"remote could not handle {value}")
