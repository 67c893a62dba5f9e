"""How threadline's handler turns a record into text: redacted, escaped, timed in UTC, and
the record left as it was logged.

The record a logger hands to its handlers is shared by all of them, so handlers after
threadline's (pytest's capture, Sentry, OpenTelemetry, a QueueHandler) still see the message
template, its arguments and the exception as they were logged.
"""

from __future__ import annotations

import logging
import re
import time
from functools import lru_cache

from colorlog.escape_codes import escape_codes, parse_colors
from colorlog.formatter import default_log_colors
from pythonjsonlogger.json import JsonFormatter

from threadline.redaction import Redactor, copy_record

# A text line: the UTC time (its second, then the milliseconds), level, process ID, the three
# trace IDs, logger and message. Positional, not "%(name)s" fields: named fields cost a dict per
# line and a key string made and hashed per field; with the time's two parts passed as they
# are, 20.6k instructions per line instead of 32.6k under callgrind.
TEXT_FORMAT = "%s.%03d+00:00 %-7s %-6d rid=%s task=%s parent=%s %s: %s"
# Everything that could end a line or move the cursor on a terminal: C0 and C1 controls, DEL,
# and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# A traceback's lines follow the record's line indented, so none of them can pass for a record.
_CONTINUATION = "\n  "
# What a line writes for a trace ID a record has none of.
MISSING = "-"


def escape(text: str) -> str:
    """``text`` on one line: CR, LF and other control characters written as escapes."""
    # Every control character is unprintable; isprintable() costs 0.12 µs on a typical
    # line against the search's 0.28 µs, and the search decides for the rare rest.
    if text.isprintable():
        return text
    return _CONTROL.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    char = match[0]
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape_block(text: str) -> str:
    """A multi-line text (a traceback) escaped line by line, each line after the first indented."""
    return _CONTINUATION.join(escape(line) for line in text.split("\n"))


def iso_time(created: float) -> str:
    """A record's time in ISO 8601 with its UTC offset, to the millisecond."""
    seconds = int(created)
    return f"{utc_second(seconds)}.{int((created - seconds) * 1000):03d}+00:00"


@lru_cache(maxsize=4)
def utc_second(seconds: int) -> str:
    """The UTC second ``seconds`` after the epoch in ISO 8601, without its offset."""
    # Records come many to a second: 0.4 µs per record cached against 1.2 µs for datetime's
    # isoformat.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


class TextFormatter(logging.Formatter):
    """One line per record in TEXT_FORMAT, every field escaped onto it, the message redacted
    when a ``redactor`` is given; a traceback follows on indented lines. ``colour`` colours
    each line by its level, for a terminal.

    The line is TEXT_FORMAT filled in one step, and the record is neither copied nor changed:
    formatting a copy with logging's formatter cost a traced no-op task 9.5 % more
    instructions than plain Celery (bench/instructions.py). The trace IDs arrive escaped (see
    the comment below); the message, the level and the logger's name are escaped here.
    A bad format string raises here, inside the handler's ``emit``, so logging reports it the
    usual way ("--- Logging error ---") and the caller carries on.
    """

    def __init__(self, redactor: Redactor | None, *, colour: bool = False) -> None:
        super().__init__()
        self.redactor, self.colour = redactor, colour

    def format(self, record: logging.LogRecord) -> str:
        """The formatted line(s) of ``record``."""
        redactor = self.redactor
        message = redactor.message(record) if redactor is not None else record.getMessage()
        attributes = record.__dict__
        created = record.created
        seconds = int(created)
        line = TEXT_FORMAT % (
            utc_second(seconds),
            (created - seconds) * 1000,  # %d truncates, as logging's msecs do
            escape(record.levelname),
            record.process,
            # Made safe for a line where they entered: context.trace_ids, logs.TraceFilter.
            attributes.get("request_id", MISSING),
            attributes.get("task_id", MISSING),
            attributes.get("parent_id", MISSING),
            escape(record.name),
            escape(message),
        )
        if record.exc_info or record.exc_text or record.stack_info:
            line += self._blocks(record)
        if self.colour:
            line = parse_colors(default_log_colors.get(record.levelname, "")) + line + escape_codes["reset"]
        return line

    def _blocks(self, record: logging.LogRecord) -> str:
        # The traceback and the stack, each on indented lines; exc_text is a traceback a
        # handler before ours cached.
        exception = self.formatException(record.exc_info) if record.exc_info else record.exc_text
        blocks = [text for text in (exception, record.stack_info) if text]
        if self.redactor is not None:
            blocks = [self.redactor.text(text) for text in blocks]
        return "".join(_CONTINUATION + escape_block(text) for text in blocks)


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line, from a redacted copy of each record when a ``redactor`` is
    given, with ISO 8601 UTC timestamps."""

    def __init__(self, redactor: Redactor | None, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        """The JSON line of ``record``; ``record`` itself is left unchanged."""
        if self.redactor is not None:
            return super().format(self.redactor.record(record))
        prepared = copy_record(record)
        prepared.msg, prepared.args = record.getMessage(), None
        return super().format(prepared)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return iso_time(record.created)
