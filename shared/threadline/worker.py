"""The worker's main process: trace IDs for the lines it logs about tasks it does not run.

The main process logs "Task ... received", hard time limits and lost pool workers outside any
task, often with a canvas task ID that carries no request ID. ``traced_strategy`` binds a
task's IDs while the main process takes in its message, so the "received" line and whatever
else runs then (``task_received`` receivers, rejections) carry them; it also writes the
validated request ID into the message's headers, which Celery hands to the pool, so the pool
process finds it there instead of parsing the task ID again. ``TracedRequest`` binds them
while the main process handles a time limit or a failure. ``propagation.install`` sets both
up for every task of a traced app when a worker starts.
"""

from __future__ import annotations

from typing import Any

from celery.worker.request import Request

from threadline.context import bind, ids_of_message, unbind
from threadline.ids import HEADER


def traced_strategy(handler: Any) -> Any:
    """Wrap a task's message handler (its strategy) to bind the task's IDs while it runs."""

    def handle(message: Any, *args: Any) -> Any:
        headers = message.headers
        task_id = headers.get("id") if headers else None
        if not isinstance(task_id, str):
            # Protocol 1 messages carry the ID in the body: the lines fall back to the record.
            return handler(message, *args)
        ids = ids_of_message(task_id, headers)
        headers[HEADER] = ids.request_id
        token = bind(ids)
        try:
            return handler(message, *args)
        finally:
            unbind(token)

    return handle


class TracedRequest(Request):
    """Celery's Request that binds the task's IDs while the main process handles a time
    limit or a lost pool process, so Celery's lines about it carry them."""

    # Celery's Request keeps its attributes in slots: one per message, no __dict__ either here.
    __slots__ = ()

    def _bind(self) -> Any:
        return bind(ids_of_message(self.id, self._request_dict))

    def on_timeout(self, soft: bool, timeout: float) -> None:
        token = self._bind()
        try:
            super().on_timeout(soft, timeout)
        finally:
            unbind(token)

    def on_failure(self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False) -> None:
        token = self._bind()
        try:
            super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)
        finally:
            unbind(token)


_traced_classes: dict[type, type] = {}


def traced_request_class(base: Any) -> type:
    """A subclass of the request class ``base`` (a class or its dotted name) with tracing."""
    from celery.utils.imports import symbol_by_name

    cls = symbol_by_name(base)
    if issubclass(cls, TracedRequest):
        return cls  # type: ignore[no-any-return]
    if cls is Request:
        return TracedRequest
    if cls not in _traced_classes:
        _traced_classes[cls] = type(f"Traced{cls.__name__}", (TracedRequest, cls), {"__slots__": ()})
    return _traced_classes[cls]
