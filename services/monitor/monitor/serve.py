"""The monitor's web process: the trace API, the trace pages and the health check."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import threadline.flask
from flask import Flask, abort, jsonify, redirect, render_template, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from threadline.database import make_engine
from threadline.ids import is_valid_request_id

from monitor import migrate, traces, waterfall
from monitor.alert_delivery import ALERT_STATES, alert_list
from monitor.config import Settings
from monitor.metrics import StoreCollector
from monitor.store import latest_beat

STATES = ("PENDING", "RECEIVED", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED", "REJECTED")
MAX_LIMIT = 500


class BadQuery(ValueError):
    """A query parameter the user got wrong; answered 400 with this message."""


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask("monitor")
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    threadline.flask.init_app(app)

    def connect() -> Any:
        return engine.connect()

    @app.get("/api/health")
    def health() -> Any:
        with connect() as connection:
            beat = latest_beat(connection)
        alive = beat is not None and time.time() - beat < settings.consumer_stale_seconds
        return jsonify(status="ok", consumer={"alive": alive, "beat_at": traces.iso(beat)})

    @app.get("/api/traces/<request_id>")
    def trace_json(request_id: str) -> Any:
        return jsonify(_trace_or_abort(connect, request_id))

    @app.get("/api/traces")
    def traces_json() -> Any:
        with connect() as connection:
            return jsonify(traces=traces.recent(connection, **_list_query(request.args)))

    @app.get("/api/alerts")
    def alerts_json() -> Any:
        with connect() as connection:
            return jsonify(alerts=alert_list(connection, state=_alert_state(request.args.get("state"))))

    @app.get("/traces/<request_id>")
    def trace_page(request_id: str) -> Any:
        document = _trace_or_abort(connect, request_id)
        return render_template("trace.html", trace=document, rows=waterfall.rows(document),
                               flower_url=settings.flower_url)

    @app.get("/traces/")
    def list_page() -> Any:
        search = request.args.get("q", "").strip()
        if search and is_valid_request_id(search):
            return redirect(f"/traces/{search}")
        failed = request.args.get("failed") == "1"
        query = _list_query({"state": "FAILURE"} if failed else {})
        with connect() as connection:
            found = traces.recent(connection, **query)
        return render_template("traces.html", traces=found, failed=failed, search=search,
                               invalid=bool(search))

    registry = CollectorRegistry()
    registry.register(StoreCollector(engine, settings))

    @app.get("/metrics")
    def metrics() -> Any:
        return generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}

    app.add_url_rule("/", "index", lambda: redirect("/traces/"))
    threadline.flask.json_errors(app)
    app.register_error_handler(BadQuery, lambda exc: (jsonify(error=str(exc)), 400))
    return app


def _alert_state(value: str | None) -> str | None:
    if value not in (None, "", *ALERT_STATES):
        raise BadQuery(f"state must be one of {', '.join(ALERT_STATES)}")
    return value or None


def _trace_or_abort(connect: Any, request_id: str) -> dict[str, Any]:
    if not is_valid_request_id(request_id):
        raise BadQuery("request ID must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'")
    with connect() as connection:
        document = traces.trace(connection, request_id)
    if document is None:
        abort(404, description=f"no trace for request {request_id}")
    return document


def _list_query(args: Any) -> dict[str, Any]:
    state = args.get("state") or None
    if state is not None and state not in STATES:
        raise BadQuery(f"state must be one of {', '.join(STATES)}")
    since = args.get("since") or None
    try:
        since_at = datetime.fromisoformat(since).timestamp() if since else None
    except ValueError:
        raise BadQuery("since must be an ISO 8601 time, e.g. 2026-12-01T09:00:00+00:00") from None
    try:
        limit = int(args.get("limit", 50))
    except ValueError:
        raise BadQuery("limit must be an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadQuery(f"limit must be between 1 and {MAX_LIMIT}")
    return {"state": state, "task": args.get("task") or None, "since": since_at, "limit": limit}
