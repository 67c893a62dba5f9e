"""The worker's main process: trace IDs for the lines it logs about tasks it does not run.

The main process logs "Task ... received", hard time limits and lost pool workers outside any
task, often with a canvas task ID that carries no request ID. ``TracedRequest`` works out each
task's IDs when its message arrives: they are the "arriving" IDs while Celery logs the
"received" line right after, and it binds them while the main process handles a time limit or
a failure. ``propagation.install`` makes every task of a traced app use it when a worker starts.
"""

from __future__ import annotations

from typing import Any

from celery.worker.request import Request

from threadline.context import TraceIds, bind, ids_of_message, unbind

# The IDs of the message the main process is taking in; one slot, so nothing accumulates.
_arriving: TraceIds | None = None


def arriving(task_id: object) -> TraceIds | None:
    """The IDs of task ``task_id`` when its message is the one arriving now, else None."""
    ids = _arriving
    return ids if ids is not None and ids.task_id == task_id else None


class TracedRequest(Request):
    """Celery's Request that makes the main process's task lines carry the task's IDs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        global _arriving
        self._threadline_ids = _arriving = ids_of_message(self.id, self._request_dict)

    def on_timeout(self, soft: bool, timeout: float) -> None:
        token = bind(self._threadline_ids)
        try:
            super().on_timeout(soft, timeout)
        finally:
            unbind(token)

    def on_failure(self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False) -> None:
        token = bind(self._threadline_ids)
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
        _traced_classes[cls] = type(f"Traced{cls.__name__}", (TracedRequest, cls), {})
    return _traced_classes[cls]
