"""The trace context of the current request or task, held in one context variable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any, NamedTuple

import celery._state

from threadline.formatting import escape
from threadline.ids import HEADER, request_id_for_task, request_id_or_new


class TraceIds(NamedTuple):
    """What every log line and every published task carries."""

    request_id: str
    parent_id: str | None = None
    task_id: str | None = None


_current: ContextVar[TraceIds | None] = ContextVar("threadline_trace", default=None)

_IDS_ATTR = "_threadline_ids"


class _NoTaskStack:
    """Where a Celery has no task stack (see ``internals``): no task is found running."""

    top = None
    stack: tuple[Any, ...] = ()


# Celery's stack of the tasks this thread runs: an internal, read only where the worker bound
# no IDs (eager calls).
_task_stack: Any = getattr(celery._state, "_task_stack", None)
if _task_stack is None:
    _task_stack = _NoTaskStack()
_tuple_new = tuple.__new__


def current() -> TraceIds | None:
    """The IDs of the request or task being handled, or None outside any."""
    ids = _current.get()
    return ids if ids is not None else running_task_ids()


# The IDs bound in this context (a request, or a task in a worker), without fallback. The
# context variable's own method: each log record calls it, and it costs no Python frame.
bound: Callable[[], TraceIds | None] = _current.get


def running_task_ids() -> TraceIds | None:
    """The IDs of the task Celery runs in this thread, for where none are bound."""
    # Where the worker did not bind a task's IDs (eager calls, workers started without
    # worker_init), they come from the request Celery keeps for the task this thread runs,
    # computed once per run. Not from task_prerun/postrun signals: their dispatch alone costs
    # a no-op task about a quarter of its CPU time.
    task = _task_stack.top
    if task is None:
        return None
    request = task.request
    ids: TraceIds | None = request.__dict__.get(_IDS_ATTR)
    if ids is None:
        if request.id is None:
            return _calling_task_ids()
        ids = ids_of_message(request.id, request)
        setattr(request, _IDS_ATTR, ids)
    return ids


def _calling_task_ids() -> TraceIds | None:
    # A task called directly, like a function, from inside another: the caller's IDs.
    for task in reversed(_task_stack.stack):
        request = task.request
        if request.id is not None:
            return ids_of_message(request.id, request)
    return None


def ids_of_message(task_id: str, request: Any) -> TraceIds:
    """The IDs of task ``task_id`` from its message or request (``request`` has ``get``)."""
    return trace_ids(task_id, request.get(HEADER), request.get("parent_id"))


def trace_ids(task_id: str, header: object, parent_id: str | None) -> TraceIds:
    """The IDs of task ``task_id`` whose message carried ``header`` and ``parent_id``, the
    task and parent IDs escaped for log lines (a publisher can choose them)."""
    # Escaped here, once per task, not in each of its lines: 1.8k instructions per line less.
    # tuple.__new__ directly: the named tuple's own __new__ is Python code, and the worker
    # builds these once per task in each process.
    parent = None if parent_id is None else escape(str(parent_id))
    return _tuple_new(TraceIds, (request_id_for_task(task_id, header), parent, escape(str(task_id))))


# Make IDs current; pass the returned token to unbind when done, to restore the context that
# was current before. The context variable's own methods, like bound: the worker calls them
# for every task.
bind: Callable[[TraceIds | None], Token[TraceIds | None]] = _current.set
unbind: Callable[[Token[TraceIds | None]], None] = _current.reset


@contextmanager
def request_context(request_id: str | None = None) -> Iterator[TraceIds]:
    """Run a block as one request: a valid ``request_id`` is kept, anything else replaced."""
    ids = TraceIds(request_id_or_new(request_id))
    token = bind(ids)
    try:
        yield ids
    finally:
        unbind(token)
