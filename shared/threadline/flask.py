"""Flask integration: each request runs in the context of its (validated) request ID."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

from threadline.context import TraceIds, bind, current, unbind
from threadline.http import HEADER
from threadline.ids import request_id_or_new

log = logging.getLogger(__name__)


def init_app(app: Flask, header: str = HEADER) -> None:
    """Bind a request ID for every request of ``app`` and echo it in the response header.

    The incoming header is used only when it is well formed; otherwise a new ID is made, so
    a hostile value never reaches a log line or a task.
    """

    @app.before_request
    def bind_request_id() -> None:
        g.threadline_token = bind(TraceIds(request_id_or_new(request.headers.get(header))))

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        ids = current()
        if ids is not None:
            response.headers[header] = ids.request_id
        return response

    @app.teardown_request
    def unbind_request_id(_: Any = None) -> None:
        token = g.pop("threadline_token", None)
        if token is not None:
            unbind(token)


def json_errors(app: Flask) -> None:
    """Answer every error of ``app`` as ``{"error": ...}`` JSON, never an HTML page or a traceback.

    An HTTP error keeps its own headers (the ``Allow`` of a 405, ``Retry-After``...); anything
    unexpected is logged with its traceback and answered 500.
    """

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
        return jsonify(error=error.description), error.code, headers

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Any:
        log.exception("Unhandled error")
        return jsonify(error=InternalServerError.description), 500
