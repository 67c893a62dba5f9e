"""Requests as trace roots: one Celery event per HTTP response, on Celery's event exchange.

Celery's task events say which tasks ran, not which HTTP request caused them. With
``init_app(flask_app, celery_app)`` each response also publishes a ``request-served`` event
(routing key ``request.served``) with the request's ID, method, path, status and duration, so
a monitor that consumes task events finds the request the same way and makes it the root of
its trace. The event is sent after the response is written, so the client never waits for it,
and a broker that is away costs the event, never the request.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

from celery.events.event import Event, get_exchange
from flask import Flask, Response, g, request

from threadline import publishing
from threadline.context import current

log = logging.getLogger(__name__)
REQUEST_EVENT = "request-served"
ROUTING_KEY = "request.served"
# Paths polled by health checks would bury the requests people look for.
DEFAULT_SKIP = frozenset({"/api/health"})
_PATH_CHARS = 300


def init_app(app: Flask, celery: Any, skip: frozenset[str] = DEFAULT_SKIP, source: str | None = None) -> None:
    """Publish a ``request-served`` event through ``celery`` after each response of ``app``.

    Call it after :func:`threadline.flask.init_app`, whose request ID the event carries.
    """
    hostname = source or f"{app.name}@{socket.gethostname()}"

    @app.before_request
    def note_start() -> None:
        g.threadline_started = (time.time(), time.perf_counter())

    @app.after_request
    def send_after_response(response: Response) -> Response:
        ids, started = current(), g.pop("threadline_started", None)
        if ids is None or started is None or request.path in skip:
            return response
        fields = {
            "request_id": ids.request_id,
            "method": request.method,
            "path": request.path[:_PATH_CHARS],
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started[1]) * 1000, 3),
            "started": started[0],
        }
        response.call_on_close(lambda: _send(celery, hostname, fields))
        return response


def _send(celery: Any, hostname: str, fields: dict[str, Any]) -> None:
    # Not through Celery's event dispatcher: it waits for the broker's confirm without a
    # timeout, so a broker under a memory alarm would hold this thread and its producer.
    try:
        with publishing.bounded_producer(celery) as producer:
            exchange = get_exchange(producer.connection, name=celery.conf.event_exchange)
            producer.publish(
                Event(REQUEST_EVENT, hostname=hostname, **fields), exchange=exchange, declare=[exchange],
                routing_key=ROUTING_KEY, serializer=celery.conf.event_serializer, delivery_mode=1,
                confirm_timeout=publishing.CONFIRM_TIMEOUT_SECONDS,
            )
    except Exception as exc:  # the request is answered already; only its trace root is lost
        log.warning("Request event for %s not sent: %s", fields["request_id"], exc)
