"""Mask personal data in log records: e-mail addresses, phone numbers and secret fields."""

from __future__ import annotations

import logging
import re
from typing import Any

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# International or grouped numbers of 8 to 15 digits, also at the end of a sentence; plain
# integers such as IDs or timestamps without a "+" or separators are left alone.
PHONE = re.compile(
    r"(?<![\w-])\+\d[\d ().-]{6,18}\d(?!\w)"
    r"|(?<![\w.-])\(?\d{2,4}\)?[ .-]\d{3,4}[ .-]\d{3,4}(?![\w-]|\.\d)"
)
MASK = "[redacted]"
DEFAULT_SECRET_FIELDS = ("password", "token", "secret", "authorization", "api_key", "body")
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "parent_id",
    "task_id",
}
_MAX_DEPTH = 4


def redact(text: str) -> str:
    """``text`` with e-mail addresses and phone numbers masked."""
    if "@" in text:
        text = EMAIL.sub(MASK, text)
    return PHONE.sub(MASK, text)


def redact_value(value: Any, depth: int = 0) -> Any:
    """``value`` with personal data masked in its strings, nested containers included."""
    if isinstance(value, str):
        return redact(value)
    if depth >= _MAX_DEPTH:
        return value if isinstance(value, int | float | bool | None) else redact(repr(value))
    if isinstance(value, dict):
        return {key: redact_value(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item, depth + 1) for item in value]
    return value


class RedactingFilter(logging.Filter):
    """Masks personal data in the message, its arguments and extra fields, and replaces the
    named secret fields entirely.

    The message is formatted once here and stored formatted, so the handler's formatter does
    not format it again. ``extras=False`` skips scanning extra fields other than the secret
    ones, for formats that never write them (the text format): Celery attaches a dict of the
    task's arguments and result to its lines, and scanning it is most of the filter's cost.
    """

    def __init__(self, secret_fields: tuple[str, ...] = (), *, extras: bool = True) -> None:
        super().__init__()
        self.secret_fields = frozenset(DEFAULT_SECRET_FIELDS + secret_fields)
        self.extras = extras

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        attributes = record.__dict__
        if self.extras:
            for name in attributes.keys() - _STANDARD:
                attributes[name] = MASK if name in self.secret_fields else redact_value(attributes[name])
        else:
            for name in self.secret_fields.intersection(attributes):
                attributes[name] = MASK
        if record.exc_info:
            # Exception text can quote personal data: format it once, masked, and drop the
            # exception so no formatter writes it unmasked (they all fall back to exc_text).
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
