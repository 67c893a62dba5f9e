"""The Celery internals threadline wraps, and the check that they still look as it expects.

Celery's public signals cannot do all of threadline's work: task_prerun/task_postrun fire after
the worker's "received" line and before its "succeeded" line, never in the main process that
logs time limits and lost pool processes, and their dispatch costs a no-op task about a quarter
of its CPU time. So a worker wraps, for each task of a traced app:

- its request stack (``celery.utils.threads.LocalStack``), which Celery's tracer pushes the
  task's request onto before the task runs and pops after Celery's last line about it;
- ``Task.start_strategy``, which builds the consumer's handler of the task's messages;
- its Request class (``celery.worker.request.Request``: ``on_timeout``, ``on_failure``);

and ``threadline.context`` reads Celery's task stack (``celery._state._task_stack``) for eager
calls. When one of them is missing or its shape changed, the worker leaves it alone and falls
back to public signals, with one warning at start (see ``propagation``).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

import celery._state
import celery.worker.request
from celery import Task

REQUEST_STACK = "a task's request stack (a LocalStack whose push and pop can be wrapped)"
STRATEGY = "Task.start_strategy(app, consumer, **kwargs)"
REQUEST_CLASS = "the Request class's on_timeout(soft, timeout) and on_failure(exc_info, ...)"
TASK_STACK = "the task stack (celery._state._task_stack)"


def changed(tasks: Iterable[Task]) -> list[str]:
    """The internals, of those above, that are missing or changed for ``tasks``."""
    found = []
    if not all(_wrappable(task.request_stack) for task in tasks):
        found.append(REQUEST_STACK)
    if _parameters(getattr(Task, "start_strategy", None)) != ["self", "app", "consumer", "kwargs"]:
        found.append(STRATEGY)
    request = getattr(celery.worker.request, "Request", None)
    if (_parameters(getattr(request, "on_timeout", None)) != ["self", "soft", "timeout"]
            or _parameters(getattr(request, "on_failure", None))[:2] != ["self", "exc_info"]
            or not hasattr(request, "_request_dict")):
        found.append(REQUEST_CLASS)
    if not hasattr(getattr(celery._state, "_task_stack", None), "top"):
        found.append(TASK_STACK)
    return found


def _wrappable(stack: Any) -> bool:
    # propagation wraps push and pop on the stack itself: it needs both, and room to set them.
    return callable(getattr(stack, "push", None)) and callable(getattr(stack, "pop", None)) and hasattr(
        stack, "__dict__")


def _parameters(function: Any) -> list[str]:
    try:
        return list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return []
