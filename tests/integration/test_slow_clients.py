"""On the PostgreSQL stack (a small upload limit, four API processes): chunked uploads meet the
limit, and slow uploads or synchronous header checks hold a thread each, never the whole API."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import requests
from celery import Celery

from devtools.stack import Stack, poll_until
from tests.integration.test_files import upload
from tests.integration.test_security import listening_addresses
from tests.integration.workers import paused

# Slow uploads and as many header checks: three times as many as the API has processes (a
# sync worker each would be stalled).
SLOW_CLIENTS = 6
BOUNDARY = "threadline-test"


def multipart(content: bytes) -> tuple[bytes, bytes]:
    """The head and the tail of a multipart body around ``content`` in form field 'file'."""
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
            "Content-Type: text/csv\r\n\r\n").encode()
    return head, f"\r\n--{BOUNDARY}--\r\n".encode()


def chunked_upload(stack: Stack, content: bytes) -> requests.Response:
    head, tail = multipart(content)
    chunks = iter([head, *(content[i:i + 16_384] for i in range(0, len(content), 16_384)), tail])
    return requests.post(f"{stack.api_url}/api/files/", data=chunks, timeout=60,
                         headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})


def test_chunked_uploads_meet_the_upload_limit(pg_stack):
    limit = int(pg_stack.env["API_MAX_UPLOAD_BYTES"])
    store = Path(pg_stack.env["FILE_STORE"])
    before = set(store.glob("*.csv"))
    row = b"1,2,3\n"
    small = chunked_upload(pg_stack, b"a,b,c\n" + row * 1000)
    big = chunked_upload(pg_stack, b"a,b,c\n" + row * (2 * limit // len(row)))
    # Announced by its Content-Length, a little over the limit: urllib sends it all before it
    # reads the answer, which must be the 413, not a reset connection.
    content = b"a,b,c\n" + row * (limit // len(row) + 500_000)
    head, tail = multipart(content)
    with pytest.raises(urllib.error.HTTPError) as over:
        urllib.request.urlopen(urllib.request.Request(
            f"{pg_stack.api_url}/api/files/", data=head + content + tail,
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}), timeout=60)

    assert small.status_code == 202, small.text
    assert big.status_code == 413 and big.headers["Content-Type"] == "application/json", big.text
    assert big.json()["error"] == f"The upload is larger than {limit} bytes"
    assert over.value.code == 413 and json.loads(over.value.read())["error"] == big.json()["error"]
    # The small one only: nothing of the refused upload stays in the store.
    assert len(set(store.glob("*.csv")) - before) == 1


def slow_upload(stack: Stack, seconds: float, done: list[int], sending: threading.Semaphore) -> None:
    """An upload whose body trickles in over ``seconds``; ``sending`` is released once it began."""
    content = b"a,b\n" + b"1,2\n" * 250
    head, tail = multipart(content)
    body = head + content + tail
    with socket.create_connection(("127.0.0.1", int(stack.env["API_PORT"])), timeout=60) as sock:
        sock.sendall(f"POST /api/files/ HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                     f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n".encode())
        pieces = 20
        sending.release()
        for i in range(pieces):
            sock.sendall(body[i * len(body) // pieces:(i + 1) * len(body) // pieces])
            time.sleep(seconds / pieces)
        done.append(int(sock.recv(64).split()[1]))


def test_slow_uploads_and_waiting_header_checks_do_not_stall_the_api(pg_stack):
    statuses: list[int] = []
    sending = threading.Semaphore(0)
    waiting = [threading.Thread(target=slow_upload, args=(pg_stack, 6.0, statuses, sending))
               for _ in range(SLOW_CLIENTS)]
    waiting += [threading.Thread(target=lambda: statuses.append(
        upload(pg_stack, f"it-wait-{uuid.uuid4().hex[:6]}", "a,b\n1,2\n", validate="sync").status_code))
        for _ in range(SLOW_CLIENTS)]
    latencies = []
    with paused(pg_stack, "processor", "processor"):
        for thread in waiting:
            thread.start()
        # Every slow upload is sending, and every header check waits in the processor's queue.
        assert all(sending.acquire(timeout=30) for _ in range(SLOW_CLIENTS))
        poll_until(lambda: queued(pg_stack, "processor") >= SLOW_CLIENTS, "header checks queued", timeout=30,
                   interval=0.1)
        for index in range(5):
            started = time.monotonic()
            response = requests.post(f"{pg_stack.api_url}/api/message/", timeout=30,
                                     json={"sender": 1, "recipient": 2, "body": f"while stalled {index}"})
            latencies.append(time.monotonic() - started)
            assert response.status_code == 202
        for thread in waiting:
            thread.join(timeout=60)

    print(f"POST /api/message/ beside {SLOW_CLIENTS} slow uploads and {SLOW_CLIENTS} waiting header checks: "
          f"max {max(latencies) * 1000:.0f} ms")
    assert max(latencies) < 1.0, latencies
    # The slow uploads were accepted; the header checks ran into the processor's absence.
    assert sorted(statuses) == [202] * SLOW_CLIENTS + [504] * SLOW_CLIENTS


def queued(stack: Stack, queue: str) -> int:
    app = Celery(broker=stack.env["BROKER_URL"], set_as_current=False)
    try:
        with app.connection_for_write() as connection:
            return int(connection.default_channel.queue_declare(queue, passive=True).message_count)
    finally:
        app.close()


def test_flower_not_told_where_to_listen_stays_on_localhost(pg_stack):
    poll_until(lambda: listening_addresses(int(pg_stack.env["FLOWER_PORT"])), "Flower listens")
    assert listening_addresses(int(pg_stack.env["FLOWER_PORT"])) == {"127.0.0.1"}
