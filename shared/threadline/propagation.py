"""Carry the request ID through Celery: publish side, worker side and beat.

``install(app)`` is all an app needs. It

- gives tasks published without an explicit ID a task ID ``<request_id>_<uuid4>``;
- writes the validated request ID into every published message's headers;
- lets the worker's main process find a task's IDs for the lines it logs about it (see
  ``worker``); in the process running a task, ``context.current`` finds them in Celery's own
  task stack, so every log line carries them;
- registers the task that forwards error callbacks across codebases (see ``callbacks``).
"""

from __future__ import annotations

import functools
from typing import Any

from celery import Celery, signals

from threadline import callbacks
from threadline.context import current
from threadline.ids import HEADER, make_task_id, new_request_id, request_id_from_task_id
from threadline.worker import traced_request_class


def install(app: Celery) -> Celery:
    """Trace every task ``app`` publishes or runs. Safe to call more than once."""
    if getattr(app, "_threadline_installed", False):
        return app
    app.send_task = _traced_send_task(app.send_task)
    if app.conf.beat_scheduler == "celery.beat:PersistentScheduler":
        app.conf.beat_scheduler = "threadline.beat:TracingScheduler"
    callbacks.register(app)
    signals.worker_init.connect(_trace_requests, weak=False, dispatch_uid="threadline.requests")
    app._threadline_installed = True
    return app


def _traced_send_task(send_task: Any) -> Any:
    # Every publish path (delay, apply_async, signatures, canvas, retries, beat) ends in
    # app.send_task, and only there is an ID not yet chosen: canvas IDs arrive explicit.
    @functools.wraps(send_task)
    def send(name: str, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        if not options.get("task_id"):
            ids = current()
            options["task_id"] = make_task_id(ids.request_id if ids else new_request_id())
        return send_task(name, args, kwargs, **options)

    return send


def request_id_for_publish(task_id: str | None) -> str:
    """The request ID a message published now carries."""
    ids = current()
    if ids is not None:
        return ids.request_id
    return request_id_from_task_id(task_id) or new_request_id()


def _on_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        headers[HEADER] = request_id_for_publish(headers.get("id"))


def _trace_requests(sender: Any = None, **_: Any) -> None:
    # worker_init fires once the worker imported its tasks and before it builds the
    # strategies that instantiate each task's Request class.
    app = getattr(sender, "app", None)
    if not getattr(app, "_threadline_installed", False):
        return
    for task in app.tasks.values():  # type: ignore[union-attr]
        task.Request = traced_request_class(task.Request)


signals.before_task_publish.connect(_on_publish, weak=False, dispatch_uid="threadline.publish")
