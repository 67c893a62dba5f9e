"""How threadline's handler turns a record into text: on a copy, redacted, escaped, timed in UTC.

The record a logger hands to its handlers is shared by all of them. Threadline formats a copy,
so handlers after its own (pytest's capture, Sentry, OpenTelemetry, a QueueHandler) still see
the message template, its arguments and the exception as they were logged.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

import colorlog
from pythonjsonlogger.json import JsonFormatter

from threadline.redaction import Redactor, copy_record

# Everything that could end a line or move the cursor on a terminal: C0 and C1 controls, DEL,
# and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# A traceback's lines follow the record's line indented, so none of them can pass for a record.
_CONTINUATION = "\n  "


def escape(text: str) -> str:
    """``text`` on one line: CR, LF and other control characters written as escapes."""
    if _CONTROL.search(text) is None:
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
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


class RecordFormatter(logging.Formatter):
    """Formats, with ``inner``, a copy of each record: message formatted, redacted when a
    ``redactor`` is given, and for the text format every field escaped onto one line.

    A bad format string raises here, inside the handler's ``emit``, so logging reports it the
    usual way ("--- Logging error ---") and the caller carries on.
    """

    def __init__(self, inner: logging.Formatter, redactor: Redactor | None, *, text: bool) -> None:
        super().__init__()
        self.inner, self.redactor, self.text = inner, redactor, text
        # The record's fields the text format writes; "message" is made from msg.
        self._fields = tuple(sorted(set(re.findall(r"%\((\w+)\)", inner._fmt or "")) - {"message"})) if text else ()

    def format(self, record: logging.LogRecord) -> str:
        """The formatted line(s) of ``record``; ``record`` itself is left unchanged."""
        if self.redactor is not None:
            prepared = self.redactor.record(record, extras=not self.text)
        else:
            prepared = copy_record(record)
            prepared.msg, prepared.args = record.getMessage(), None
        if self.text:
            self._escape(prepared)
        return self.inner.format(prepared)

    def _escape(self, record: logging.LogRecord) -> None:
        attributes = record.__dict__
        record.msg = escape(record.msg)
        texts = {name: value for name in self._fields if isinstance(value := attributes.get(name), str)}
        # One search over all of them: a control character in a field is rare.
        if _CONTROL.search("".join(texts.values())) is not None:
            attributes.update((name, escape(value)) for name, value in texts.items())
        if record.exc_info:
            record.exc_text, record.exc_info = self.inner.formatException(record.exc_info), None
        if record.exc_text:
            record.exc_text = "  " + escape_block(record.exc_text)
        if record.stack_info:
            record.stack_info = "  " + escape_block(record.stack_info)


class _UtcTime(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return iso_time(record.created)


class TextFormatter(_UtcTime):
    """The text format's fields, with ISO 8601 UTC timestamps."""


class ColoredTextFormatter(_UtcTime, colorlog.ColoredFormatter):
    """The text format, coloured by level for a terminal."""


class JsonLineFormatter(_UtcTime, JsonFormatter):
    """One JSON object per line, with ISO 8601 UTC timestamps."""
