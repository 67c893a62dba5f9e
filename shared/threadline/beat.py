"""beat, with any scheduler: each due task gets a fresh request ID before beat logs it.

Every publish beat makes goes through ``app.send_task``, which gives a message published outside
any request a fresh request ID, whatever the scheduler class (PersistentScheduler,
django-celery-beat's, celery-redbeat's, a team's own). What a publish cannot do alone is share
that ID with beat's "Sending due task" line, logged just before it: for that, the scheduler
beat built runs each entry inside a request context. ``Scheduler.apply_entry`` is the method of
Celery's scheduler base class that logs that line and publishes, inherited by every scheduler;
it is wrapped on the instance, so no scheduler class is replaced or subclassed.
"""

from __future__ import annotations

import logging
from typing import Any

from threadline.context import request_context

log = logging.getLogger(__name__)


def trace_scheduler(sender: Any = None, **_: Any) -> None:
    """beat_init receiver: run each entry of the scheduler of beat ``sender`` as one request."""
    if not getattr(getattr(sender, "app", None), "_threadline_installed", False):
        return
    scheduler = sender.scheduler
    apply_entry = getattr(scheduler, "apply_entry", None)
    if not callable(apply_entry):
        log.warning("threadline: %s has no apply_entry; beat's lines about a publish carry no request ID "
                    "(the messages still do)", type(scheduler).__name__)
        return

    def apply_in_request(entry: Any, producer: Any = None, **kwargs: Any) -> Any:
        with request_context():
            return apply_entry(entry, producer=producer, **kwargs)

    scheduler.apply_entry = apply_in_request
