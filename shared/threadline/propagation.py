"""Carry the request ID through Celery: publish side, worker side and beat.

``install(app)`` is all an app needs. It

- gives tasks published without an explicit ID a task ID ``<request_id>_<uuid4>``;
- writes the validated request ID into every message it publishes (header ``request_id``);
- binds a task's IDs while it runs, so every log line carries them, and lets the worker's
  main process find them for the lines it logs about the task (see ``worker``);
- registers the task that forwards error callbacks across codebases (see ``callbacks``).
"""

from __future__ import annotations

import functools
from typing import Any

from celery import Celery, Task, signals

from threadline import callbacks
from threadline.context import bind, current, ids_of_message, unbind
from threadline.ids import HEADER, make_task_id, new_request_id, request_id_from_task_id
from threadline.worker import traced_request_class

_TOKEN_ATTR = "_threadline_token"


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
    # Every publish path (delay, apply_async, signatures, canvas, retries, beat, errbacks)
    # ends in app.send_task: the one place to choose the task ID when none is given (canvas
    # IDs arrive explicit) and to write the request ID into the message's headers. Cheaper
    # than a before_task_publish receiver, whose dispatch costs more than the work it does.
    @functools.wraps(send_task)
    def send(name: str, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        task_id = options.get("task_id")
        request_id = request_id_for_publish(task_id)
        if not task_id:
            options["task_id"] = make_task_id(request_id)
        headers = options.get("headers")
        options["headers"] = {**headers, HEADER: request_id} if headers else {HEADER: request_id}
        return send_task(name, args, kwargs, **options)

    return send


def request_id_for_publish(task_id: str | None) -> str:
    """The request ID a message published now carries."""
    ids = current()
    if ids is not None:
        return ids.request_id
    return (request_id_from_task_id(task_id) if task_id else None) or new_request_id()


def _trace_requests(sender: Any = None, **_: Any) -> None:
    # worker_init fires once the worker imported its tasks and before it builds the
    # strategies that instantiate each task's Request class and the pool builds the
    # tracers that push and pop each task's request.
    app = getattr(sender, "app", None)
    if not getattr(app, "_threadline_installed", False):
        return
    for task in app.tasks.values():  # type: ignore[union-attr]
        task.Request = traced_request_class(task.Request)
        _bind_while_running(task)


def _bind_while_running(task: Task) -> None:
    # The tracer pushes a task's request before the task runs and pops it after Celery's
    # last line about it: binding the IDs there makes each record's lookup one context
    # variable read, for two calls per task. (context.current still finds the IDs of tasks
    # run where no worker started, as in eager calls, from Celery's task stack.)
    push, pop = task.push_request, task.pop_request

    def push_request(*args: Any, **kwargs: Any) -> None:
        push(*args, **kwargs)
        request = task.request
        if request.id is not None:  # None: called directly, like a function
            setattr(request, _TOKEN_ATTR, bind(ids_of_message(request.id, request)))

    def pop_request() -> None:
        token = task.request.__dict__.get(_TOKEN_ATTR)
        if token is not None:
            unbind(token)
        pop()

    task.push_request, task.pop_request = push_request, pop_request

