"""Error callbacks that cross codebases.

A caller that runs ``app.send_task("other.task", link_error=my_errback.s())`` against a worker
of another codebase meets Celery's limits: the callee cannot import ``my_errback``, so it only
forwards it as a task with the failed task's ID as its sole argument (routed by the callee's
own routes) and the exception is lost. ``remote_errback`` wraps the errback in a task that
every threadline app registers: the callee runs it in place with the real exception and
publishes the caller's errback, with a JSON description of the failure, to the queue the
caller chose.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.canvas import Signature

from threadline.context import bind, current, ids_of_message, unbind

FORWARD_TASK = "threadline.forward_error"


def remote_errback(errback: Signature) -> Signature:
    """Wrap ``errback`` for ``link_error`` on a task run by a worker of another codebase.

    ``errback`` must name the queue its own worker consumes (``.set(queue=...)``). It is
    called as ``errback(failure, *its_args)`` where ``failure`` is a dict with ``task_id``,
    ``task_name``, ``exc_type`` and ``exc_message``.
    """
    if not errback.options.get("queue"):
        raise ValueError("remote_errback needs an errback with a queue: errback.set(queue=...)")
    return Signature(FORWARD_TASK, kwargs={"errback": dict(errback)})


def register(app: Celery) -> None:
    """Register the forwarding task in ``app`` (``propagation.install`` does this)."""

    # Not bound and with more than one parameter: that is what makes Celery call an errback
    # in place with (request, exc, traceback) instead of publishing it.
    def forward_error(request: Any, exc: BaseException, traceback: Any, errback: dict[str, Any]) -> None:
        _forward(app, request, exc, errback)

    app.task(name=FORWARD_TASK, shared=False)(forward_error)


def _forward(app: Celery, request: Any, exc: BaseException, errback: dict[str, Any]) -> None:
    failure = {
        "task_id": request.id,
        "task_name": request.task,
        "exc_type": type(exc).__name__,
        "exc_message": str(exc),
    }
    # Outside a traced worker request (another request class, an eager call) nothing is
    # bound: take the IDs from the failed task's message.
    token = bind(ids_of_message(request.id, request)) if current() is None else None
    try:
        app.signature(errback).clone(args=(failure,)).apply_async(parent_id=request.id, root_id=request.root_id)
    finally:
        if token is not None:
            unbind(token)
