"""Sandbox entry point: ``python -m sandbox.main`` serves SMTP and the HTTP provider."""

from __future__ import annotations

import logging
import signal
from typing import Any

from threadline import logs
from threadline.conf import env, env_int
from werkzeug.serving import WSGIRequestHandler, make_server

from sandbox import http_provider, smtp_sink
from sandbox.faults import FaultBoard
from sandbox.records import Records

log = logging.getLogger("sandbox")


class KeepAliveHandler(WSGIRequestHandler):
    # HTTP/1.1 keeps the notifier's connections open, as a real provider's API would.
    protocol_version = "HTTP/1.1"


def main() -> None:
    logs.configure("sandbox")
    # One line per delivery is ours; aiosmtpd's line per SMTP command and the dev server's
    # line per request would outnumber it tenfold.
    for chatty in ("mail.log", "werkzeug"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    host = env("SANDBOX_HOST", "127.0.0.1")
    http_port, smtp_port = env_int("SANDBOX_HTTP_PORT", 8090), env_int("SANDBOX_SMTP_PORT", 8025)
    board = FaultBoard(
        error_rate=float(env("SANDBOX_ERROR_RATE", "0")),
        latency_ms=env_int("SANDBOX_LATENCY_MS", 0),
        outage_seconds=float(env("SANDBOX_OUTAGE_SECONDS", "0")),
    )
    records = Records()
    smtp = smtp_sink.start(host, smtp_port, board, records)
    server = make_server(
        host, http_port, http_provider.create_app(board, records), threaded=True, request_handler=KeepAliveHandler
    )
    signal.signal(signal.SIGTERM, _exit)
    log.info("Sandbox serving HTTP on %s:%s and SMTP on %s:%s", host, http_port, host, smtp_port)
    try:
        server.serve_forever()
    finally:
        smtp.stop()


def _exit(*_: Any) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    main()
