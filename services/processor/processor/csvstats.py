"""Streaming CSV validation and per-column statistics: one pass, constant memory.

Only one row and one set of running totals per column are held at a time, so a file of any
size is processed in the same memory. A column's type is set by its first non-empty value:
numeric columns must stay numeric (a later text value makes the file malformed), text columns
accept anything.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable
from typing import Any

# tick(rows done, bytes read, file size): progress reports and pacing hook in here.
Tick = Callable[[int, int, int], None]


class MalformedFile(ValueError):
    """The file is not an acceptable CSV; the message starts with the line number."""


def read_header(reader: Any) -> list[str]:
    """The validated header row of ``reader`` (a ``csv.reader``)."""
    try:
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise MalformedFile(f"line 1: {_describe(exc)}") from None
    if not header or not any(name.strip() for name in header):
        raise MalformedFile("line 1: the file has no header row")
    seen: set[str] = set()
    for name in header:
        if not name.strip():
            raise MalformedFile("line 1: a column has an empty name")
        if name in seen:
            raise MalformedFile(f"line 1: column {name!r} appears twice")
        seen.add(name)
    return header


def check_header(path: str) -> list[str]:
    """The header of the CSV file at ``path``, read without scanning the rest of the file."""
    with open(path, encoding="utf-8", newline="") as handle:
        return read_header(csv.reader(handle, strict=True))


def scan(path: str, tick: Tick | None = None, tick_every: int = 1000) -> dict[str, Any]:
    """Validate the CSV file at ``path`` and return its row count and per-column statistics.

    ``tick`` is called every ``tick_every`` data rows; an exception it raises (a time limit)
    stops the scan.
    """
    with open(path, "rb") as raw:
        size = os.fstat(raw.fileno()).st_size
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""), strict=True)
        header = read_header(reader)
        stats = _Totals(len(header))
        try:
            rows = stats.consume(reader, header, lambda rows: tick and tick(rows, raw.tell(), size), tick_every)
        except csv.Error as exc:
            raise MalformedFile(f"line {reader.line_num}: {exc}") from None
        except UnicodeDecodeError:
            # Text is decoded in chunks, so the bad byte is at most a chunk past this line.
            raise MalformedFile(f"line {reader.line_num + 1}: not valid UTF-8 (at or after this line)") from None
    return {"rows": rows, "columns": stats.summary(header)}


class _Totals:
    """Running totals, one slot per column, in parallel lists for speed."""

    def __init__(self, width: int) -> None:
        self.count = [0] * width
        self.empty = [0] * width
        self.numeric: list[bool | None] = [None] * width
        self.total = [0.0] * width
        self.low = [math.inf] * width
        self.high = [-math.inf] * width

    def consume(self, reader: Any, header: list[str], tick: Callable[[int], Any], tick_every: int) -> int:
        width, rows = len(header), 0
        count, empty, numeric, total, low, high = self.count, self.empty, self.numeric, self.total, self.low, self.high
        for row in reader:
            if len(row) != width:
                if not row:  # blank line
                    continue
                raise MalformedFile(f"line {reader.line_num}: {len(row)} fields, the header has {width}")
            rows += 1
            for i, value in enumerate(row):
                if not value:
                    empty[i] += 1
                    continue
                count[i] += 1
                kind = numeric[i]
                if kind is False:
                    continue
                try:
                    number = float(value)
                except ValueError:
                    if kind:
                        raise MalformedFile(
                            f"line {reader.line_num}: column {header[i]!r} holds numbers, not {value[:40]!r}"
                        ) from None
                    numeric[i] = False
                    continue
                numeric[i] = True
                total[i] += number
                if number < low[i]:
                    low[i] = number
                if number > high[i]:
                    high[i] = number
            if rows % tick_every == 0:
                tick(rows)
        return rows

    def summary(self, header: list[str]) -> list[dict[str, Any]]:
        columns = []
        for i, name in enumerate(header):
            column: dict[str, Any] = {"name": name, "count": self.count[i], "empty": self.empty[i]}
            if self.numeric[i]:
                column.update(type="number", min=self.low[i], max=self.high[i], mean=self.total[i] / self.count[i])
            else:
                column["type"] = "text"
            columns.append(column)
        return columns


def _describe(exc: Exception) -> str:
    return "not valid UTF-8" if isinstance(exc, UnicodeDecodeError) else str(exc)
