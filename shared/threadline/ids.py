"""Request IDs and task IDs: the only place that decides what a well-formed ID is."""

from __future__ import annotations

import hashlib
import re
import uuid

# The message header that carries the request ID from publisher to worker.
HEADER = "request_id"
DEFAULT_PATTERN = r"[A-Za-z0-9._-]{1,64}"
# The form str(uuid.uuid4()) takes; a regex match costs a fraction of parsing a UUID.
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# What follows the request ID in a task ID: "_" and the UUID.
_SUFFIX_LENGTH = 37


def _compile(pattern: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    # A request ID, and a whole task ID in one match: a worker parses every task's ID. The
    # suffix has a fixed length, so the request ID is what precedes it.
    return re.compile(pattern), re.compile(f"(?:{pattern})_{_UUID}")


_pattern, _task_id = _compile(DEFAULT_PATTERN)


def set_pattern(pattern: str) -> None:
    """Change the accepted request-ID format (a regex matched against the whole value).

    Whatever the pattern, it must exclude whitespace, control characters and quotes: the
    value is written to log lines and headers as it is.
    """
    global _pattern, _task_id
    _pattern, _task_id = _compile(pattern)


def is_valid_request_id(value: object) -> bool:
    """True when ``value`` is a string in the accepted request-ID format."""
    return isinstance(value, str) and _pattern.fullmatch(value) is not None


def new_request_id() -> str:
    """A fresh request ID: 32 hex characters."""
    return uuid.uuid4().hex


def request_id_or_new(value: object) -> str:
    """``value`` when it is a valid request ID, else a fresh one. Never returns ``value`` raw."""
    return value if is_valid_request_id(value) else new_request_id()  # type: ignore[return-value]


def make_task_id(request_id: str) -> str:
    """A task ID of the form ``<request_id>_<uuid4>``: Flower's search by request ID finds it."""
    return f"{request_id}_{uuid.uuid4()}"


def request_id_from_task_id(task_id: object) -> str | None:
    """The request ID a task ID of the form ``<request_id>_<uuid4>`` starts with, else None."""
    if not isinstance(task_id, str) or _task_id.fullmatch(task_id) is None:
        return None
    return task_id[:-_SUFFIX_LENGTH]


def request_id_for_task(task_id: object, header: object) -> str:
    """The request ID a worker gives the task ``task_id`` whose message carried ``header``.

    A valid header wins; otherwise the ID the task ID starts with, else one derived from the
    task ID itself. Never the raw header, and the same answer in every process and on every
    retry, so the worker's main process and its pool children agree.
    """
    # is_valid_request_id, inline: the worker calls this for every task.
    if isinstance(header, str) and _pattern.fullmatch(header) is not None:
        return header
    from_task = request_id_from_task_id(task_id)
    if from_task is not None:
        return from_task
    if is_valid_request_id(task_id):
        return task_id  # type: ignore[return-value]
    return hashlib.blake2b(str(task_id).encode("utf-8", "replace"), digest_size=16).hexdigest()
