"""E-mail goes out over one SMTP connection per process, reopened once the server closed it.

The server is aiosmtpd, as in the sandbox (the development environment installs it).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from notifier import providers

HOST = "127.0.0.1"


class Inbox:
    def __init__(self) -> None:
        self.sessions = 0
        self.message_ids: list[str] = []

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]):
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.message_ids.append(message_from_bytes(envelope.original_content)["Message-ID"])
        return "250 Message accepted for delivery"


class Server:
    """An SMTP server on a fixed port that can be restarted, as a provider's would be."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            self.port = probe.getsockname()[1]
        self.inbox = Inbox()
        self.controller = self._start()

    def _start(self) -> Controller:
        controller = Controller(self.inbox, hostname=HOST, port=self.port)
        controller.start()
        return controller

    def restart(self) -> None:
        self.controller.stop()  # open connections die with it
        self.controller = self._start()


@pytest.fixture
def server() -> Iterator[Server]:
    server = Server()
    yield server
    server.controller.stop()
    connection = providers._smtp_connections.pop((HOST, server.port), None)
    if connection is not None:
        connection.close()


def send(server: Server, key: str) -> None:
    providers.send_email(HOST, server.port, key, "ada@example.com", "hello", timeout=5)


def test_mails_share_a_connection_and_a_restarted_server_gets_a_new_one(server):
    send(server, "message-1-email")
    send(server, "message-2-email")
    assert server.inbox.sessions == 1

    server.restart()
    send(server, "message-3-email")  # no error: the client reconnects at once

    assert server.inbox.sessions == 2
    assert server.inbox.message_ids == [f"<message-{n}-email@threadline.local>" for n in (1, 2, 3)]


@pytest.mark.parametrize(("status", "outcome"), [(202, None), (302, providers.TransientError),
                                                 (503, providers.TransientError), (429, providers.TransientError),
                                                 (400, providers.PermanentError)])
def test_only_a_2xx_answer_counts_as_delivered(status, outcome):
    import http.server
    import threading

    class Provider(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.send_header("Location", "/elsewhere")
            self.end_headers()

        def do_GET(self) -> None:
            # Where the redirect points: a client that followed it would read a 200 here.
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer((HOST, 0), Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://{HOST}:{server.server_address[1]}/push"
    try:
        if outcome is None:
            providers.post("push", url, "key-1", {"device_token": "t", "text": "hi"}, timeout=5)
        else:
            with pytest.raises(outcome):
                providers.post("push", url, "key-1", {"device_token": "t", "text": "hi"}, timeout=5)
    finally:
        server.shutdown()
        server.server_close()
