"""The Flask application factory."""

from __future__ import annotations

import threadline.flask
import threadline.request_events
from flask import Flask, Response, jsonify, request

from api import drain, errors, files, messages, users
from api.celery_app import celery_init_app
from api.config import Settings
from api.db import File, Message, make_sessionmaker, open_database
from api.outbox import PublishedMarks


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask("api")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.extensions["settings"] = settings
    engine = open_database(settings.database_url)
    # The hot path (POST /api/message/, the relay) runs Core statements on the engine itself.
    app.extensions["engine"], app.extensions["db"] = engine, make_sessionmaker(engine)
    app.extensions["outbox_marks"] = PublishedMarks(engine, Message.__table__)
    app.extensions["file_marks"] = PublishedMarks(engine, File.__table__)
    celery_init_app(app, settings)
    threadline.flask.init_app(app)
    threadline.request_events.init_app(app, app.extensions["celery"])
    errors.register(app)

    @app.after_request
    def read_refused_body(response: Response) -> Response:
        if response.status_code >= 400:
            # Up to twice the upload limit: an upload a little over it is read and refused
            # readably; a far larger one is refused without reading it.
            drain.drain(request.environ, 2 * settings.max_upload_bytes)
        return response

    app.register_blueprint(messages.bp)
    app.register_blueprint(files.bp)
    app.register_blueprint(users.bp)
    app.add_url_rule("/api/health", "health", lambda: jsonify(status="ok"))
    return app
