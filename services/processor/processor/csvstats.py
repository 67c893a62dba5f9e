"""Streaming CSV validation and per-column statistics: one pass, constant memory.

Only one row (of at most ``max_line`` characters a line) and one set of running totals per
column are held at a time, so a file of any size and any line length is processed in the same
memory. A value is empty when it is "" or one of ``empty_values``. A column's type is set by
its first non-empty value: a finite decimal number (what Python's ``float`` reads, without
``inf`` and ``nan``, which are text) makes it numeric, and numeric columns must stay numeric
(a later text value makes the file malformed); text columns accept anything. README.md states
these rules for users.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Iterator
from typing import Any, TextIO

# tick(rows done, bytes read, file size): progress reports and pacing hook in here.
Tick = Callable[[int, int, int], None]
MAX_LINE = 1024 * 1024


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


def capped_lines(text: TextIO, max_line: int) -> Iterator[str]:
    """The lines of ``text``; a line longer than ``max_line`` characters (its line ending
    included) is malformed, found without holding more than that in memory."""
    number = 0
    while line := text.readline(max_line + 1):
        number += 1
        if len(line) > max_line:
            raise MalformedFile(f"line {number}: longer than {max_line} characters")
        yield line


def check_header(path: str, max_line: int = MAX_LINE) -> list[str]:
    """The header of the CSV file at ``path``, read without scanning the rest of the file."""
    with open(path, encoding="utf-8", newline="") as handle:
        return read_header(csv.reader(capped_lines(handle, max_line), strict=True))


def scan(
    path: str, tick: Tick | None = None, tick_every: int = 1000, *, max_line: int = MAX_LINE,
    empty_values: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Validate the CSV file at ``path`` and return its row count and per-column statistics.

    ``tick`` is called every ``tick_every`` data rows; an exception it raises (a time limit)
    stops the scan.
    """
    with open(path, "rb") as raw:
        size = os.fstat(raw.fileno()).st_size
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        reader = csv.reader(capped_lines(text, max_line), strict=True)
        header = read_header(reader)
        stats = _Totals(len(header), empty_values)
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

    def __init__(self, width: int, empty_values: frozenset[str]) -> None:
        self.empty_values = empty_values
        self.count = [0] * width
        self.empty = [0] * width
        self.numeric: list[bool | None] = [None] * width
        self.total = [0.0] * width
        self.low = [math.inf] * width
        self.high = [-math.inf] * width

    def consume(self, reader: Any, header: list[str], tick: Callable[[int], Any], tick_every: int) -> int:
        width, rows = len(header), 0
        count, empty, numeric, total, low, high = self.count, self.empty, self.numeric, self.total, self.low, self.high
        empty_values, isfinite = self.empty_values, math.isfinite
        for row in reader:
            if len(row) != width:
                if not row:  # blank line
                    continue
                raise MalformedFile(f"line {reader.line_num}: {len(row)} fields, the header has {width}")
            rows += 1
            for i, value in enumerate(row):
                if not value or (empty_values and value in empty_values):
                    empty[i] += 1
                    continue
                count[i] += 1
                kind = numeric[i]
                if kind is False:
                    continue
                try:
                    number = float(value)
                    if not isfinite(number):
                        raise ValueError(value)  # inf and nan are text: JSON has no such number
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
                # A sum beyond the largest double has no mean to report.
                mean = self.total[i] / self.count[i] if math.isfinite(self.total[i]) else None
                column.update(type="number", min=self.low[i], max=self.high[i], mean=mean)
            else:
                column["type"] = "text"
            columns.append(column)
        return columns


def _describe(exc: Exception) -> str:
    return "not valid UTF-8" if isinstance(exc, UnicodeDecodeError) else str(exc)
