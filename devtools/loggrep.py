"""Every log record of one request ID, from every log file, merged in time order.

A record matches when it holds the request ID as a whole ID (``rid=demo-4``, a task ID
``demo-4_<suffix>``, ``"request_id": "demo-4"``), not as the start of another (``demo-42``). A
record is its first line and the lines that follow it without a timestamp of their own: a
traceback belongs to the record that logged it.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

# Characters a request ID may hold: one of them next to a match means a longer ID.
_ID_CHAR = r"[A-Za-z0-9._-]"
# A task ID's suffix: threadline's 20 characters, or a UUID (task IDs of its earlier form).
_TASK_SUFFIX = r"(?:_(?:[-.0-9A-Za-z]{20}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}))?"
# A text record starts with its timestamp, a JSON record with "{".
_RECORD_START = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}|\{")


def id_pattern(request_id: str) -> re.Pattern[str]:
    """Matches ``request_id`` alone or as the start of one of its task IDs."""
    return re.compile(rf"(?<!{_ID_CHAR}){re.escape(request_id)}{_TASK_SUFFIX}(?!{_ID_CHAR})")


def records(handle: Iterator[str]) -> Iterator[list[str]]:
    """The lines of ``handle`` grouped by record."""
    record: list[str] = []
    for line in handle:
        line = line.rstrip("\n")
        if record and _RECORD_START.match(line):
            yield record
            record = []
        record.append(line)
    if record:
        yield record


def matching_lines(request_id: str, log_dir: Path) -> list[tuple[str, str, str]]:
    """(timestamp, process, line) for each line of a record of ``request_id``, oldest first."""
    pattern = id_pattern(request_id)
    found = []
    for path in sorted(log_dir.glob("*.log")):
        with open(path, encoding="utf-8", errors="replace") as handle:
            for record in records(handle):
                if pattern.search(record[0]):
                    stamp = _timestamp(record[0])
                    found.extend((stamp, path.stem, line) for line in record)
    # A stable sort: the lines of one record stay together and in order.
    found.sort(key=lambda item: item[0])
    return found


def _timestamp(line: str) -> str:
    # Text lines start with "YYYY-MM-DD HH:MM:SS,mmm"; JSON lines carry it in "timestamp".
    if line.startswith("{"):
        try:
            return str(json.loads(line).get("timestamp", ""))
        except ValueError:
            return ""
    return line[:23]


def main(request_id: str, log_dir: Path) -> int:
    lines = matching_lines(request_id, log_dir)
    width = max((len(process) for _, process, _ in lines), default=0)
    for _, process, line in lines:
        print(f"{process:<{width}} | {line}")
    if not lines:
        print(f"No line in {log_dir}/*.log contains {request_id!r}", file=sys.stderr)
        return 1
    return 0
