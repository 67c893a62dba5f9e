"""The trace context of the current request or task, held in one context variable."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import NamedTuple

from threadline.ids import request_id_or_new


class TraceIds(NamedTuple):
    """What every log line and every published task carries."""

    request_id: str
    parent_id: str | None = None
    task_id: str | None = None


_current: ContextVar[TraceIds | None] = ContextVar("threadline_trace", default=None)

# A worker's main process logs lines about tasks it does not run ("received", time limits,
# revocations) with nothing bound; it finds their IDs here by task ID. Bounded, so tasks that
# never finish (revoked, lost) cannot grow it; OrderedDict's methods are atomic under the GIL.
_MAX_REMEMBERED = 50_000
_by_task: OrderedDict[str, TraceIds] = OrderedDict()


def current() -> TraceIds | None:
    """The IDs of the request or task being handled, or None outside any."""
    return _current.get()


def bind(ids: TraceIds | None) -> Token[TraceIds | None]:
    """Make ``ids`` current; pass the returned token to :func:`unbind` when done."""
    return _current.set(ids)


def unbind(token: Token[TraceIds | None]) -> None:
    """Restore the context that was current before the matching :func:`bind`."""
    _current.reset(token)


@contextmanager
def request_context(request_id: str | None = None) -> Iterator[TraceIds]:
    """Run a block as one request: a valid ``request_id`` is kept, anything else replaced."""
    ids = TraceIds(request_id_or_new(request_id))
    token = bind(ids)
    try:
        yield ids
    finally:
        unbind(token)


def remember(ids: TraceIds) -> None:
    """Keep ``ids`` findable by their task ID until :func:`forget` (or until pushed out)."""
    _by_task[ids.task_id] = ids  # type: ignore[index]
    if len(_by_task) > _MAX_REMEMBERED:
        _by_task.popitem(last=False)


def forget(task_id: str) -> None:
    """Drop what :func:`remember` kept for ``task_id``."""
    _by_task.pop(task_id, None)


def recall(task_id: object) -> TraceIds | None:
    """The IDs remembered for ``task_id``, if any."""
    return _by_task.get(task_id) if isinstance(task_id, str) else None
