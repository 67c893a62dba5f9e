"""The rest of a refused request's body is read before the answer goes out.

Ordinary HTTP clients (Python's urllib and requests among them) send the whole body before they
read the response. A server that answers 413 after the first bytes and closes the connection
with the rest unread makes the kernel reset it, and the client sees "connection reset" instead
of the answer. So the rest is read and dropped: at most ``budget`` bytes, and only while the
client keeps sending (``idle`` seconds of silence end it). A body announced larger than the
budget is not read at all: its client is refused at once.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)
CHUNK = 64 * 1024


def drain(environ: dict[str, Any], budget: int, idle: float = 2.0) -> None:
    """Read and drop what is left of the request body in ``environ`` (see the module)."""
    declared = environ.get("CONTENT_LENGTH")
    if declared and declared.isdigit() and int(declared) > budget:
        return
    sock = environ.get("gunicorn.socket")
    previous = sock.gettimeout() if sock is not None else None
    if sock is not None:
        sock.settimeout(idle)
    try:
        left = budget
        while left > 0:
            chunk = environ["wsgi.input"].read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
    # A timeout, a reset, a malformed chunk: the client stopped sending a readable body, and
    # the answer goes out as it is.
    except Exception as exc:
        log.debug("Stopped reading a refused body: %s", exc)
    finally:
        if sock is not None:
            sock.settimeout(previous)
