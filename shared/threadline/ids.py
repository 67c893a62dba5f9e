"""Request IDs and task IDs: the only place that decides what a well-formed ID is."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time

# The message header that carries the request ID from publisher to worker.
HEADER = "request_id"
DEFAULT_PATTERN = r"[A-Za-z0-9._-]{1,64}"
# A task ID's suffix: 48 bits of milliseconds since the epoch and 72 random bits, 15 bytes in
# lower-case base32hex, 24 characters. Unique unless 2**36 IDs are made in one millisecond; it
# sorts by time as text, and its alphabet is the request ID's without "_" and "-", so a task
# ID stays a valid request ID (up to the length limit) and splits at its last "_".
_SUFFIX = r"[0-9a-v]{24}"
# The suffix of task IDs made before it was this short, str(uuid.uuid4()): messages published
# then (retries, a queue drained after an upgrade) keep their request ID. The two forms differ
# at the 13th character from the end ("-" only in a UUID), so no task ID parses both ways.
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _compile(pattern: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    # A request ID, and a whole task ID in one match: a worker parses every task's ID. Each
    # suffix has a fixed length, so the request ID is what precedes it.
    return re.compile(pattern), re.compile(f"((?:{pattern}))_(?:{_SUFFIX}|{_UUID})")


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
    """A fresh request ID: 80 random bits, 16 characters of ``[0-9a-v]``.

    Short, because each task ID repeats it and RabbitMQ's cost per message grows with the
    IDs a message carries (its ``id``, ``root_id``, ``parent_id`` and correlation ID). Task IDs
    stay unique on their own; two workflows share a request ID with a chance of 4 in 10**7
    after a billion of them.
    """
    return _base32hex(os.urandom(10))


def request_id_or_new(value: object) -> str:
    """``value`` when it is a valid request ID, else a fresh one. Never returns ``value`` raw."""
    return value if is_valid_request_id(value) else new_request_id()  # type: ignore[return-value]


def make_task_id(request_id: str) -> str:
    """A task ID ``<request_id>_<suffix>``, the suffix 24 characters of ``[0-9a-v]``, unique
    on its own and ordered by time: Flower's search by request ID finds the workflow, and
    sorting by ID lists its tasks in the order they were published."""
    suffix = (time.time_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(9)
    return f"{request_id}_{_base32hex(suffix)}"


def _base32hex(raw: bytes) -> str:
    # Lengths that are multiples of 5 bytes need no padding.
    return base64.b32hexencode(raw).decode("ascii").lower()


def request_id_from_task_id(task_id: object) -> str | None:
    """The request ID a task ID ``<request_id>_<suffix>`` (see make_task_id, or an earlier
    ``<request_id>_<uuid4>``) starts with, else None."""
    if not isinstance(task_id, str):
        return None
    match = _task_id.fullmatch(task_id)
    return match[1] if match is not None else None


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
