"""gunicorn integration: access and error lines through threadline's logging.

In a gunicorn config file::

    logger_class = "threadline.gunicorn.Logger"
    accesslog = "-"
"""

from __future__ import annotations

from typing import Any

from gunicorn import glogging

from threadline import logs
from threadline.context import request_context
from threadline.flask import HEADER

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
        # response echoed (already validated by the app).
        request_id = next((v for k, v in resp.headers if k.lower() == _HEADER_LOWER), None)
        with request_context(request_id):
            super().access(resp, req, environ, request_time)
