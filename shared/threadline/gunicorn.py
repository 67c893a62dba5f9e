"""gunicorn integration: access and error lines through threadline's logging, JSON error answers.

In a gunicorn config file::

    logger_class = "threadline.gunicorn.Logger"
    worker_class = "threadline.gunicorn.ThreadWorker"   # or "threadline.gunicorn.SyncWorker"
    accesslog = "-"
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn import glogging, util
from gunicorn.workers.gthread import ThreadWorker as _ThreadWorker
from gunicorn.workers.sync import SyncWorker as _SyncWorker

from threadline import logs
from threadline.context import request_context
from threadline.http import HEADER

_HEADER_LOWER = HEADER.lower()


class Logger(glogging.Logger):
    """gunicorn's logger, writing through the root handler that ``threadline.logs`` installs."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        logs.configure(cfg.proc_name or "gunicorn")
        for log in (self.error_log, self.access_log):
            log.handlers.clear()
            log.propagate = True

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        # The access line is written after the request's context is gone: take the ID the
        # response echoed (already validated by the app). gunicorn's own error answers have
        # none; JsonErrors binds their ID around the whole answer.
        request_id = next((v for k, v in resp.headers if k.lower() == _HEADER_LOWER), None)
        if request_id is None:
            super().access(resp, req, environ, request_time)
            return
        with request_context(request_id):
            super().access(resp, req, environ, request_time)


class _StatusLine:
    """Stands in for the client socket while gunicorn writes its HTML error page: keeps the
    status line, so gunicorn still decides the status and logs the error and access lines."""

    def __init__(self) -> None:
        self.written = b""

    def gettimeout(self) -> float | None:
        return None

    def setblocking(self, flag: bool) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        self.written += data

    def status(self) -> tuple[int, str]:
        # "HTTP/1.1 400 Bad Request"; a page gunicorn did not write (its write failed) is a 500.
        parts = self.written.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        if len(parts) == 3 and parts[1].isdigit():
            return int(parts[1]), parts[2]
        return 500, "Internal Server Error"


class JsonErrors:
    """A worker mixin: gunicorn's own answers (bad request line or headers, a request line or
    headers over the limits) are JSON ``{"error": ...}`` with a fresh ``X-Request-ID``, like
    every answer of the app, instead of an HTML page. Its lines carry that ID.

    gunicorn offers no hook for these answers; this overrides ``Worker.handle_error`` (an
    internal of gunicorn's base worker) and lets the original choose the status and log.
    """

    log: Any

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        page = _StatusLine()
        with request_context() as ids:
            super().handle_error(req, page, addr, exc)  # type: ignore[misc]
        status, reason = page.status()
        message = f"{reason}: {exc}" if 400 <= status < 500 and str(exc) else reason
        body = json.dumps({"error": message}).encode()
        head = (
            f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{HEADER}: {ids.request_id}\r\n\r\n"
        )
        try:
            util.write_nonblock(client, head.encode("latin-1") + body)
        except Exception:
            self.log.debug("Failed to send error message.")


class SyncWorker(JsonErrors, _SyncWorker):
    """gunicorn's sync worker with JSON error answers. With ``threads`` above 1, gunicorn
    replaces every worker class named ``*SyncWorker`` by its own gthread worker: use
    ``ThreadWorker`` then."""


class ThreadWorker(JsonErrors, _ThreadWorker):
    """gunicorn's gthread worker with JSON error answers."""
