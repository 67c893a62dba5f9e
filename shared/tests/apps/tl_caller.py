"""The caller codebase of the tests: a Celery app traced by threadline, one task per case.

Configured from the environment the test session sets (BROKER_URL, RESULT_DIR, LOG_DIR);
run by `celery -A tl_caller worker` and imported by the tests to publish.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded
from threadline import logs, propagation
from threadline.conf import celery_config
from threadline.http import traced_session

logs.setup_celery_logging(os.environ.get("TL_PROCESS", "caller"))

# INTERNALS_QUEUE: for the worker of tl_changed (Celery's internals changed).
QUEUE, REMOTE_QUEUE, INTERNALS_QUEUE = "caller", "remote", "internals"
app = Celery("tl_caller")
app.conf.update(celery_config(os.environ["BROKER_URL"], (QUEUE, REMOTE_QUEUE, INTERNALS_QUEUE)))
app.conf.result_backend = "file://" + os.environ["RESULT_DIR"]
app.conf.task_routes = {"remote.*": {"queue": REMOTE_QUEUE}}
app.conf.beat_schedule = {"tick": {"task": "tl_caller.tick", "schedule": 1.0}}
propagation.install(app)
log = logging.getLogger("tl_caller")


@app.task(name="tl_caller.echo")
def echo(value: Any) -> Any:
    log.info("echo %s", value)
    return value


@app.task(name="tl_caller.bound_ids")
def bound_ids() -> Any:
    # The IDs bound in the context variable itself, not those context.current() would find
    # through its slower fallback: each log record's lookup must be the cheap one.
    from threadline.context import _current

    # And the request ID the worker's main process validated and handed to the pool.
    return [*_current.get(), bound_ids.request.request_id]


@app.task(name="tl_caller.add")
def add(a: int, b: int) -> int:
    log.info("add %s %s", a, b)
    return a + b


@app.task(name="tl_caller.total")
def total(values: list[int]) -> int:
    log.info("total of %s", values)
    return sum(values)


@app.task(name="tl_caller.spawn")
def spawn(depth: int) -> None:
    log.info("spawn at depth %s", depth)
    if depth > 0:
        spawn.delay(depth - 1)


@app.task(name="tl_caller.fail")
def fail(reason: str) -> None:
    log.info("failing on purpose")
    raise ValueError(reason)


@app.task(name="tl_caller.on_error")
def on_error(task_id: str) -> str:
    log.info("errback for %s", task_id)
    return task_id


@app.task(name="tl_caller.errback_probe")
def errback_probe(*args: Any) -> None:
    # Records exactly what an error callback was called with, as JSON, for the tests.
    log.info("errback_probe args=%s", json.dumps(args, default=repr))


# Retries wait a second: with no wait, under the threads pool, another thread can run the
# retry to SUCCESS before this attempt stores RETRY, and RETRY then overwrites the result
# (Celery's own race, not threadline's).
@app.task(name="tl_caller.auto_retry", autoretry_for=(ValueError,), max_retries=3, default_retry_delay=1)
def auto_retry(fails: int) -> str:
    attempt = auto_retry.request.retries
    log.info("auto_retry attempt %s", attempt)
    if attempt < fails:
        raise ValueError(f"attempt {attempt} fails")
    return f"done after {attempt}"


@app.task(name="tl_caller.self_retry", bind=True, max_retries=3)
def self_retry(self: Any, fails: int) -> str:
    log.info("self_retry attempt %s", self.request.retries)
    if self.request.retries < fails:
        raise self.retry(countdown=1)
    return f"done after {self.request.retries}"


@app.task(name="tl_caller.call_http")
def call_http(url: str) -> int:
    with traced_session() as session:
        status = session.get(url, timeout=30).status_code
    log.info("called %s: %s", url, status)
    return status


@app.task(name="tl_caller.sleepy")
def sleepy(seconds: float) -> str:
    log.info("sleepy in pid %s", os.getpid())
    time.sleep(seconds)
    return "rested"


@app.task(name="tl_caller.soft_limited", soft_time_limit=1)
def soft_limited() -> str:
    try:
        time.sleep(10)
    except SoftTimeLimitExceeded:
        log.info("soft limit caught")
        return "cleaned up"
    return "not limited"


@app.task(name="tl_caller.hard_limited", time_limit=2)
def hard_limited() -> None:
    log.info("hard_limited starts")
    time.sleep(30)


@app.task(name="tl_caller.tick")
def tick() -> None:
    log.info("tick")
