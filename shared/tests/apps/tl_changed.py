"""tl_caller's app on a Celery whose internals threadline wraps are gone or changed shape, as a
future release might leave them: the worker must run as before, with one warning at start."""

from __future__ import annotations

import threading
from typing import Any

import celery._state
import celery.utils.threads
from celery.app.task import Task
from celery.worker.request import Request


class SlottedStack:
    """A request stack of another shape: what Celery's tracer uses, and no instance attributes."""

    __slots__ = ("_local",)

    def __init__(self) -> None:
        self._local = threading.local()

    def _items(self) -> list[Any]:
        if not hasattr(self._local, "items"):
            self._local.items = []
        return self._local.items  # type: ignore[no-any-return]

    def push(self, item: Any) -> None:
        self._items().append(item)

    def pop(self) -> Any:
        items = self._items()
        return items.pop() if items else None

    @property
    def top(self) -> Any:
        items = self._items()
        return items[-1] if items else None

    @property
    def stack(self) -> list[Any]:
        return self._items()

    def __len__(self) -> int:
        return len(self._items())


# Each task binds a stack of this class (Task.bind imports it when the app is finalized).
celery.utils.threads.LocalStack = SlottedStack  # type: ignore[misc]
# Gone: Celery's own modules keep the reference they imported; threadline finds none.
del celery._state._task_stack

# Changed shape, same behaviour for Celery.
_start_strategy, _on_timeout, _on_failure = Task.start_strategy, Request.on_timeout, Request.on_failure


def start_strategy(self: Any, *args: Any, **kwargs: Any) -> Any:
    return _start_strategy(self, *args, **kwargs)


def on_timeout(self: Any, *args: Any, **kwargs: Any) -> Any:
    return _on_timeout(self, *args, **kwargs)


def on_failure(self: Any, *args: Any, **kwargs: Any) -> Any:
    return _on_failure(self, *args, **kwargs)


Task.start_strategy, Request.on_timeout, Request.on_failure = start_strategy, on_timeout, on_failure

from tl_caller import app  # noqa: E402

__all__ = ["app"]
