"""A request through gunicorn + Flask: task publication, access line, outgoing HTTP."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
import requests
from threadline import request_context
from threadline.ids import is_valid_request_id


class Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("X-Request-ID"))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def provider() -> Iterator[tuple[str, list[str | None]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/", Recorder.seen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("how", ["delay", "apply_async", "send_task", "signature"])
def test_request_to_task(stack: Any, web: str, how: str) -> None:
    rid = f"web-{how}-1"
    response = requests.post(f"{web}/publish/{how}", headers={"X-Request-ID": rid}, timeout=30)
    assert response.status_code == 202 and response.headers["X-Request-ID"] == rid
    task_id = response.json()["task_id"]
    assert task_id.startswith(f"{rid}_")
    stack.logs.wait_for("caller", lambda r: f"[{task_id}] succeeded" in r["message"], "task done")
    records = stack.logs.of_task("caller", task_id)
    assert all(r["request_id"] == rid for r in records)
    access = stack.logs.wait_for("web", lambda r: f"/publish/{how}" in r["message"] and r["name"] == "gunicorn.access",
                                 "access line")
    assert [r["request_id"] for r in access] == [rid]


# Values gunicorn passes to the app, which must replace them.
@pytest.mark.parametrize("bad", ["a" * 65, "r\u00e9q", "a b", "x;rm"])
def test_ill_formed_header_is_replaced(stack: Any, web: str, bad: str) -> None:
    response = requests.post(f"{web}/publish/delay", headers={"X-Request-ID": bad.encode()}, timeout=30)
    rid = response.headers["X-Request-ID"]
    assert is_valid_request_id(rid) and rid != bad and response.json()["request_id"] == rid
    stack.logs.wait_for("web", lambda r: r["request_id"] == rid and r["name"] == "gunicorn.access", "access line")
    assert bad not in stack.logs.text("web")


def test_header_gunicorn_refuses_gets_a_json_error_with_a_fresh_id(stack: Any, web: str) -> None:
    # A control character in a header value: gunicorn answers before the app runs.
    bad = "\x1b[31mred"
    response = requests.post(f"{web}/publish/delay", headers={"X-Request-ID": bad.encode()}, timeout=30)
    assert response.status_code == 400 and response.headers["Content-Type"] == "application/json"
    assert "invalid" in response.json()["error"].lower()
    rid = response.headers["X-Request-ID"]
    assert is_valid_request_id(rid)
    # gunicorn's warning about the request carries the ID its answer gave.
    stack.logs.wait_for("web", lambda r: r["request_id"] == rid and "Invalid request" in r["message"], "warning")
    assert bad not in stack.logs.text("web") and "\x1b" not in stack.logs.text("web")


# (raw request, status): what gunicorn itself refuses, before any app code runs.
REFUSED = [
    (b"NOT A REQUEST LINE\r\n\r\n", 400),
    (b"GET /" + b"a" * 8000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400),
]


@pytest.mark.parametrize(("raw", "status"), REFUSED, ids=["request-line", "long-uri", "big-header", "header-name"])
def test_gunicorn_refusals_are_json_with_a_request_id(stack: Any, web: str, raw: bytes, status: int) -> None:
    host, port = web.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(raw)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
    assert response.status == status and response.getheader("Content-Type") == "application/json"
    assert json.loads(body)["error"]
    assert is_valid_request_id(response.getheader("X-Request-ID"))


def test_outgoing_http_from_a_task_and_from_a_request(stack: Any, caller: Any, web: str,
                                                      provider: tuple[str, list[str | None]]) -> None:
    url, seen = provider
    with request_context("req-http-task"):
        assert caller.call_http.delay(url).get(timeout=90) == 204
    assert requests.get(f"{web}/outgoing", params={"url": url}, headers={"X-Request-ID": "req-http-web"},
                        timeout=30).json() == {"status": 204}
    assert seen[-2:] == ["req-http-task", "req-http-web"]
