"""Log files that hold one format each, so that `jq` can read every JSON log file whole.

A process that starts with a different LOG_FORMAT than the one its file was written in moves
the old file aside (``<name>.<UTC time>.<old format>.log``) and starts a new one. Processes
that start together (gunicorn's workers) decide under one lock, so exactly one of them moves
the file and all of them write to the new one.
"""

from __future__ import annotations

import fcntl
import logging
import os
from datetime import UTC, datetime
from pathlib import Path


def open_log(path: Path, fmt: str) -> logging.FileHandler:
    """A handler appending to ``path``, after moving aside a file written in another format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(directory, fcntl.LOCK_EX)
        written_in = format_of(path)
        if written_in not in (None, fmt):
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
            path.rename(path.with_name(f"{path.stem}.{stamp}.{written_in}.log"))
        return logging.FileHandler(path, encoding="utf-8")
    finally:
        os.close(directory)  # releases the lock


def format_of(path: Path) -> str | None:
    """"json" or "text", the format of the log file ``path`` (as its first line shows), or
    None when it is empty or missing."""
    try:
        with open(path, "rb") as handle:
            first = handle.read(1)
    except FileNotFoundError:
        return None
    if not first:
        return None
    return "json" if first == b"{" else "text"
