"""Mask personal data in log records: e-mail addresses, phone numbers and secret fields."""

from __future__ import annotations

import logging
import re

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# International or grouped numbers of 8 to 15 digits; plain integers such as IDs or
# timestamps without a "+" or separators are left alone.
PHONE = re.compile(r"(?<![\w-])\+\d[\d ().-]{6,18}\d(?!\w)|(?<![\w.-])\(?\d{2,4}\)?[ .-]\d{3,4}[ .-]\d{3,4}(?![\w.-])")
MASK = "[redacted]"
DEFAULT_SECRET_FIELDS = ("password", "token", "secret", "authorization", "api_key", "body")


def redact(text: str) -> str:
    """``text`` with e-mail addresses and phone numbers masked."""
    if "@" in text:
        text = EMAIL.sub(MASK, text)
    return PHONE.sub(MASK, text)


class RedactingFilter(logging.Filter):
    """Masks personal data in the message, its arguments and the named extra fields."""

    def __init__(self, secret_fields: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secret_fields = frozenset(DEFAULT_SECRET_FIELDS + secret_fields)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked is not message and masked != message:
            record.msg, record.args = masked, None
        for name in self.secret_fields.intersection(record.__dict__):
            setattr(record, name, MASK)
        return True
