"""Carry the request ID through Celery: publish side, worker side and beat.

``install(app)`` is all an app needs. It

- gives tasks published without an explicit ID a task ID ``<request_id>_<suffix>``
  (``ids.make_task_id``);
- writes the validated request ID into every message whose task ID does not start with it
  (header ``request_id``);
- binds a task's IDs while it runs, so every log line carries them, and lets the worker's
  main process find them for the lines it logs about the task (see ``worker``);
- runs each of beat's due entries as one request, with any scheduler (see ``beat``);
- registers the task that forwards error callbacks across codebases (see ``callbacks``).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import celery
from celery import Celery, Task, signals

from threadline import beat, callbacks, internals
from threadline.context import bind, current, trace_ids, unbind
from threadline.ids import HEADER, make_task_id, new_request_id, request_id_from_task_id
from threadline.worker import traced_request_class, traced_strategy

log = logging.getLogger(__name__)


def install(app: Celery) -> Celery:
    """Trace every task ``app`` publishes or runs. Safe to call more than once."""
    if getattr(app, "_threadline_installed", False):
        return app
    app.send_task = _traced_send_task(app.send_task)
    callbacks.register(app)
    signals.worker_init.connect(_trace_requests, weak=False, dispatch_uid="threadline.requests")
    signals.beat_init.connect(beat.trace_scheduler, weak=False, dispatch_uid="threadline.beat")
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
    tasks = list(app.tasks.values())  # type: ignore[union-attr]
    changed = internals.changed(tasks)
    if changed:
        # Said once the worker's logging is set up, which happens after worker_init.
        signals.worker_ready.connect(functools.partial(_warn_changed, changed), weak=False,
                                     dispatch_uid="threadline.changed")
    if internals.REQUEST_STACK in changed:
        signals.task_prerun.connect(_bind_at_prerun, weak=False, dispatch_uid="threadline.prerun")
        signals.task_postrun.connect(_unbind_at_postrun, weak=False, dispatch_uid="threadline.postrun")
    for task in tasks:
        if internals.REQUEST_CLASS not in changed:
            task.Request = traced_request_class(task.Request)
        if internals.STRATEGY not in changed:
            _bind_while_received(task)
        if internals.REQUEST_STACK not in changed:
            _bind_while_running(task)


def _warn_changed(changed: list[str], **_: Any) -> None:
    log.warning("threadline: Celery %s changed %s; falling back to public signals: task lines carry the IDs, "
                "some of Celery's own lines about a task only its task ID", celery.__version__, "; ".join(changed))


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


# Where a request keeps the token of its binding while it is on the stack.
_TOKEN = "_threadline_token"


def _bind_while_running(task: Task) -> None:
    # Celery's tracer pushes a task's request onto the task's request stack before the task
    # runs and pops it after Celery's last line about it, and Task.push_request (apply, direct
    # calls) pushes onto the same stack: binding the IDs there makes each record's lookup one
    # context variable read, for two calls per task. The tracer keeps the stack's push and pop
    # from when it is built, in each pool process after worker_init: hence they are wrapped
    # now, on the stack itself (with USE_FAST_LOCALS they are its instance attributes).
    stack: Any = task.request_stack
    push, pop = stack.push, stack.pop
    if getattr(push, "threadline_traced", False):
        return

    def push_bound(request: Any) -> None:
        push(request)
        _bind_request(request)

    def pop_bound() -> Any:
        request = pop()
        _unbind_request(request)
        return request

    push_bound.threadline_traced = True  # type: ignore[attr-defined]
    stack.push, stack.pop = push_bound, pop_bound


def _bind_request(request: Any) -> None:
    # request.id is None when a task is called directly, like a function. The worker's main
    # process wrote the validated request ID into the header (worker.traced_strategy).
    if request is not None and request.id is not None:
        ids = trace_ids(request.id, getattr(request, HEADER, None), getattr(request, "parent_id", None))
        request.__dict__[_TOKEN] = bind(ids)


def _unbind_request(request: Any) -> None:
    token = request.__dict__.pop(_TOKEN, None) if request is not None else None
    if token is not None:
        unbind(token)


def _bind_at_prerun(task: Any = None, **_: Any) -> None:
    # The fallback where the request stack changed: the public signals around the task's run.
    _bind_request(getattr(task, "request", None))


def _unbind_at_postrun(task: Any = None, **_: Any) -> None:
    _unbind_request(getattr(task, "request", None))
