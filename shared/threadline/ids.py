"""Request IDs and task IDs: the only place that decides what a well-formed ID is."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import time

# The message header that carries the request ID from publisher to worker.
HEADER = "request_id"
DEFAULT_PATTERN = r"[A-Za-z0-9._-]{1,64}"
# A task ID's suffix: 48 bits of milliseconds since the epoch and 72 random bits, 15 bytes in
# base64 with an alphabet in ASCII order, 20 characters. Unique unless 2**36 IDs are made in one
# millisecond, and sorted as text it is sorted by time. Its alphabet is the request ID's without
# "_", so a task ID stays a valid request ID (up to the length limit) and its request ID is what
# precedes its last "_". base64 because binascii encodes in C: a suffix costs 5.6k instructions
# where base64.b32hexencode (pure Python) costs 21k, as much as str(uuid.uuid4()).
_SUFFIX_ALPHABET = b"-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_IN_ORDER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", _SUFFIX_ALPHABET)
# The suffix's length, and that of task IDs made before it was this short, str(uuid.uuid4()):
# messages published then (retries, a queue drained after an upgrade) keep their request ID.
_SUFFIX_LENGTHS = (20, 36)

_pattern = re.compile(DEFAULT_PATTERN)


def set_pattern(pattern: str) -> None:
    """Change the accepted request-ID format (a regex matched against the whole value).

    Whatever the pattern, it must exclude whitespace, control characters and quotes: the
    value is written to log lines and headers as it is.
    """
    global _pattern
    _pattern = re.compile(pattern)


def is_valid_request_id(value: object) -> bool:
    """True when ``value`` is a string in the accepted request-ID format."""
    return isinstance(value, str) and _pattern.fullmatch(value) is not None


def new_request_id() -> str:
    """A fresh request ID: 80 random bits, 16 characters of ``[0-9a-v]``.

    Short, because each task ID repeats it and RabbitMQ's work per message grows with the IDs a
    message carries (its ``id``, ``root_id``, ``parent_id`` and correlation ID); lower case and
    digits, because people type and grep it. Task IDs stay unique on their own; two workflows
    share a generated request ID with a chance of 4 in 10**7 after a billion of them.
    """
    return base64.b32hexencode(os.urandom(10)).decode("ascii").lower()


def request_id_or_new(value: object) -> str:
    """``value`` when it is a valid request ID, else a fresh one. Never returns ``value`` raw."""
    return value if is_valid_request_id(value) else new_request_id()  # type: ignore[return-value]


def make_task_id(request_id: str) -> str:
    """A task ID ``<request_id>_<suffix>``, the suffix 20 characters of ``[-.0-9A-Za-z]``,
    unique on its own and ordered by time: Flower's search by request ID finds the workflow,
    and sorting by ID lists its tasks in the order they were published."""
    raw = (time.time_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(9)
    return f"{request_id}_{binascii.b2a_base64(raw, newline=False).translate(_IN_ORDER).decode('ascii')}"


def request_id_from_task_id(task_id: object) -> str | None:
    """The request ID a task ID ``<request_id>_<suffix>`` starts with (see make_task_id; also
    an earlier ``<request_id>_<uuid4>``): what precedes the last ``_`` when a suffix's length
    follows it and it is a valid request ID; else None."""
    if not isinstance(task_id, str):
        return None
    # Neither suffix contains "_", so the request ID, which may, is all before the last one. A
    # split and a length, not one regex over the whole ID, which backtracks from its end: the
    # worker's main process parses every task's ID, in 3.9k instructions instead of 7k.
    request_id, _, suffix = task_id.rpartition("_")
    if len(suffix) not in _SUFFIX_LENGTHS or _pattern.fullmatch(request_id) is None:
        return None
    return request_id


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
