"""Sandbox entry point: ``python -m sandbox.main`` serves SMTP and the HTTP provider."""

from __future__ import annotations

import logging
import signal
from typing import Any

from threadline import logs
from threadline.conf import env, env_int
from waitress import create_server

from sandbox import http_provider, smtp_sink
from sandbox.faults import FaultBoard
from sandbox.records import Records

log = logging.getLogger("sandbox")


def main() -> None:
    logs.configure("sandbox")
    # One line per delivery is ours; aiosmtpd's line per SMTP command would outnumber it.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    host = env("SANDBOX_HOST", "127.0.0.1")
    http_port, smtp_port = env_int("SANDBOX_HTTP_PORT", 8090), env_int("SANDBOX_SMTP_PORT", 8025)
    board = FaultBoard(
        error_rate=float(env("SANDBOX_ERROR_RATE", "0")),
        latency_ms=env_int("SANDBOX_LATENCY_MS", 0),
        outage_seconds=float(env("SANDBOX_OUTAGE_SECONDS", "0")),
    )
    records = Records()
    smtp = smtp_sink.start(host, smtp_port, board, records)
    # waitress keeps the notifier's HTTP/1.1 connections open, as a real provider's API would,
    # at a fraction of the development server's CPU per request.
    server = create_server(http_provider.create_app(board, records), host=host, port=http_port, threads=8)
    signal.signal(signal.SIGTERM, _exit)
    log.info("Sandbox serving HTTP on %s:%s and SMTP on %s:%s", host, http_port, host, smtp_port)
    try:
        server.run()
    finally:
        smtp.stop()


def _exit(*_: Any) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    main()
