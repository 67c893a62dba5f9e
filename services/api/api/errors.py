"""Every error leaves the API as JSON with a specific message, never as a traceback."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the client can fix: ``status`` and ``message`` reach it as they are."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError):  # type: ignore[no-untyped-def]
        return jsonify(error=error.message), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):  # type: ignore[no-untyped-def]
        # Its own headers (Allow of a 405, Retry-After...) except the HTML page's type.
        headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
        return jsonify(error=error.description), error.code, headers

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def database_away(error: Exception):  # type: ignore[no-untyped-def]
        # The transaction did not commit: nothing of this request was stored.
        log.warning("Database unavailable: %s", type(error.__cause__ or error).__name__)
        return jsonify(error="The database is unavailable; nothing was stored. Try again."), 503

    @app.errorhandler(Exception)
    def unexpected(error: Exception):  # type: ignore[no-untyped-def]
        log.exception("Unhandled error")
        return jsonify(error=InternalServerError.description), 500
