"""The worker's main process: trace IDs for the lines it logs about tasks it does not run.

The main process logs "Task ... received", hard time limits and lost pool workers outside any
task, often with a canvas task ID that carries no request ID. ``TracedRequest`` remembers each
task's IDs when its message arrives and binds them while the main process handles its failure.
``propagation.install`` makes every task of a traced app use it when a worker starts.
"""

from __future__ import annotations

from typing import Any

from celery.worker.request import Request

from threadline.context import TraceIds, bind, forget, remember, unbind
from threadline.ids import request_id_for_task

HEADER = "request_id"


def ids_of_message(task_id: str, request: Any) -> TraceIds:
    """The IDs of a task from its message or context (``request`` has ``get``)."""
    return TraceIds(request_id_for_task(task_id, request.get(HEADER)), request.get("parent_id"), task_id)


class TracedRequest(Request):
    """Celery's Request that makes the main process's task lines carry the task's IDs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._threadline_ids = ids_of_message(self.id, self._request_dict)
        remember(self._threadline_ids)

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
            forget(self.id)

    def on_success(self, failed__retval__runtime: Any, **kwargs: Any) -> None:
        try:
            super().on_success(failed__retval__runtime, **kwargs)
        finally:
            forget(self.id)


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
