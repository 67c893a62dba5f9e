"""Carry the request ID through Celery: publish side, worker side and beat.

``install(app)`` is all an app needs. It

- gives tasks published without an explicit ID a task ID ``<request_id>_<suffix>``
  (``ids.make_task_id``);
- writes the validated request ID into every message whose task ID does not start with it
  (header ``request_id``);
- binds a task's IDs while it runs, so every log line carries them, and lets the worker's
  main process find them for the lines it logs about the task (see ``worker``);
- registers the task that forwards error callbacks across codebases (see ``callbacks``).
"""

from __future__ import annotations

import functools
from typing import Any

from celery import Celery, Task, signals
from celery.utils.threads import LocalStack

from threadline import callbacks
from threadline.context import bind, current, trace_ids, unbind
from threadline.ids import HEADER, make_task_id, new_request_id, request_id_from_task_id
from threadline.worker import traced_request_class, traced_strategy


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
        elif request_id_from_task_id(task_id) != request_id:
            # A task ID that does not start with the request ID (canvas, a caller's own)
            # needs the header; one that does says it already, in every process it reaches.
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
        _bind_while_received(task)
        _bind_while_running(task)


def _bind_while_received(task: Task) -> None:
    # The consumer asks each task for its strategy, the handler of its messages, after
    # worker_init.
    start_strategy = task.start_strategy
    if getattr(start_strategy, "threadline_traced", False):
        return

    def start(app: Celery, consumer: Any, **kwargs: Any) -> Any:
        return traced_strategy(start_strategy(app, consumer, **kwargs))

    start.threadline_traced = True  # type: ignore[attr-defined]
    task.start_strategy = start


def _bind_while_running(task: Task) -> None:
    # Celery's tracer pushes a task's request onto the task's request stack before the task
    # runs and pops it after Celery's last line about it, and Task.push_request (apply, direct
    # calls) pushes onto the same stack: binding the IDs there makes each record's lookup one
    # context variable read, for two calls per task. The tracer keeps the stack's push and pop
    # from when it is built, in each pool process after worker_init: hence a stack of our own,
    # set now. (context.current still finds the IDs where no worker started, as in eager
    # calls, from Celery's task stack.)
    if not isinstance(task.request_stack, _BindingStack):
        task.request_stack = _BindingStack()


# Where a request keeps the token of its binding while it is on the stack.
_TOKEN = "_threadline_token"


class _BindingStack(LocalStack):  # type: ignore[misc]
    """A task's request stack that binds the task's IDs while its request is on top."""

    def __init__(self) -> None:
        super().__init__()
        # Wrapped per instance, not overridden: with USE_FAST_LOCALS Celery's stack sets push
        # and pop as instance attributes, which would hide methods of a subclass.
        stack: Any = self
        push, pop = stack.push, stack.pop

        def push_bound(request: Any) -> None:
            push(request)
            # request.id is None when a task is called directly, like a function. The worker's
            # main process wrote the validated request ID into the header (worker.traced_strategy).
            if request.id is not None:
                ids = trace_ids(request.id, getattr(request, HEADER, None), getattr(request, "parent_id", None))
                request.__dict__[_TOKEN] = bind(ids)

        def pop_bound() -> Any:
            request = pop()
            token = request.__dict__.pop(_TOKEN, None) if request is not None else None
            if token is not None:
                unbind(token)
            return request

        stack.push, stack.pop = push_bound, pop_bound
