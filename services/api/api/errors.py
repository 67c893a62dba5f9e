"""Every error leaves the API as JSON with a specific message, never as a traceback."""

from __future__ import annotations

import logging

import threadline.flask
from flask import Flask, jsonify
from sqlalchemy.exc import InterfaceError, OperationalError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the client can fix: ``status`` and ``message`` reach it as they are."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def register(app: Flask) -> None:
    threadline.flask.json_errors(app)

    @app.errorhandler(ApiError)
    def api_error(error: ApiError):  # type: ignore[no-untyped-def]
        return jsonify(error=error.message), error.status

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def database_away(error: Exception):  # type: ignore[no-untyped-def]
        # The transaction did not commit: nothing of this request was stored.
        log.warning("Database unavailable: %s", type(error.__cause__ or error).__name__)
        return jsonify(error="The database is unavailable; nothing was stored. Try again."), 503
