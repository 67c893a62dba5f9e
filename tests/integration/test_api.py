"""The API from outside, on SQLite and on PostgreSQL: users, messages and every kind of bad input."""

from __future__ import annotations

import http.client
import json
import re
import socket
import urllib.error
import urllib.request
import uuid
from datetime import datetime

import pytest
import requests

from devtools.stack import poll_until
from tests.integration.notifications import ADA, ALAN, send
from tests.integration.support import MESSAGE_WORKFLOW, flower_tasks, wait_for_tasks


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request):
    """Each test runs against the SQLite stack and the PostgreSQL stack."""
    return request.getfixturevalue("stack" if request.param == "sqlite" else "pg_stack")


def call(stack, method, path, request_id=None, **kwargs):
    headers = {"X-Request-ID": request_id} if request_id else {}
    headers.update(kwargs.pop("headers", {}))
    return requests.request(method, f"{stack.api_url}{path}", headers=headers, timeout=30, **kwargs)


def test_demo_users_are_seeded_with_sms_off_for_user_2(api):
    ada, alan = call(api, "GET", f"/api/users/{ADA}").json(), call(api, "GET", f"/api/users/{ALAN}").json()

    assert ada["preferences"] == {"push": True, "email": True, "sms": True}
    assert alan["preferences"] == {"push": True, "email": True, "sms": False}


def test_create_user_then_change_preferences(api):
    grace = {"name": "Grace", "email": "grace@example.com", "phone": "+4930123456"}
    created = call(api, "POST", "/api/users/", json=grace)
    assert created.status_code == 201
    user = created.json()
    assert user["preferences"] == {"push": False, "email": True, "sms": True}

    patched = call(api, "PATCH", f"/api/users/{user['id']}/preferences", json={"sms": False})

    assert patched.status_code == 200
    stored = call(api, "GET", f"/api/users/{user['id']}").json()
    assert stored["preferences"] == {"push": False, "email": True, "sms": False}


def test_message_state_starts_pending_and_ends_per_channel(api):
    message_id = send(api, ALAN, request_id=f"it-api-{uuid.uuid4().hex[:8]}")

    def settled():
        record = call(api, "GET", f"/api/message/{message_id}").json()
        channels = record["channels"]
        # The outbox mark lands a moment after the 202, in its process's next batch.
        done = record["published"] and channels["sms"]["state"] == "skipped" and channels["email"]["state"] == "sent"
        return record if done else None

    record = poll_until(settled, "message settled and marked published", timeout=90)
    assert record["recipient"] == ALAN
    assert datetime.fromisoformat(record["created_at"]).utcoffset() is not None, record["created_at"]
    key = record["key"]
    assert re.fullmatch(r"[0-9a-f]{32}", key), key
    assert record["channels"]["push"] == {"state": "sent", "attempts": 1, "last_error": None,
                                          "idempotency_key": f"{key}-push"}
    assert record["channels"]["sms"]["idempotency_key"] == f"{key}-sms"


def test_a_retried_post_with_the_same_idempotency_key_creates_one_message(api):
    headers = {"Idempotency-Key": f"client-{uuid.uuid4().hex}", "X-Request-ID": f"it-idem-{uuid.uuid4().hex[:8]}"}
    body = {"sender": ADA, "recipient": ALAN, "body": "only once"}

    first = call(api, "POST", "/api/message/", json=body, headers=headers)
    again = call(api, "POST", "/api/message/", json=body, headers={**headers, "X-Request-ID": "it-idem-retry"})
    other_sender = call(api, "POST", "/api/message/", json={**body, "sender": ALAN}, headers=headers)

    assert first.status_code == again.status_code == other_sender.status_code == 202
    assert again.json() == first.json()
    assert other_sender.json()["message_id"] != first.json()["message_id"]
    bad = call(api, "POST", "/api/message/", json=body, headers={"Idempotency-Key": "has space"})
    assert bad.status_code == 400 and "Idempotency-Key" in bad.json()["error"]


LONG = "x" * 70_000
JSON, MSG = "application/json", "/api/message/"
# (method, path, body or raw data, content type, status, words the error message holds)
BAD_INPUT = [
    ("POST", MSG, '{"sender": 1,', JSON, 400, "Malformed JSON"),
    ("POST", MSG, "[1, 2]", JSON, 400, "JSON object"),
    ("POST", MSG, '{"sender": 1, "recipient": 2, "body": "hi"}', "text/plain", 415, "Content-Type"),
    ("POST", MSG, '{"recipient": 2, "body": "hi"}', JSON, 422, "Missing field: sender"),
    ("POST", MSG, '{"sender": "1", "recipient": 2, "body": "hi"}', JSON, 422, "sender must be of type integer"),
    ("POST", MSG, '{"sender": 1, "recipient": true, "body": "hi"}', JSON, 422, "recipient must be of type integer"),
    ("POST", MSG, '{"sender": 1, "recipient": 2, "body": 5}', JSON, 422, "body must be of type string"),
    ("POST", MSG, '{"sender": 1, "recipient": 2, "body": "  "}', JSON, 422, "body must hold"),
    ("POST", MSG, '{"sender": 1, "recipient": 999999, "body": "hi"}', JSON, 422, "Unknown recipient"),
    ("POST", MSG, '{"sender": 999999, "recipient": 2, "body": "hi"}', JSON, 422, "Unknown sender"),
    ("POST", MSG, '{"sender": 1, "recipient": 2, "body": "' + LONG + '"}', JSON, 413, "larger than"),
    ("GET", "/api/message/", None, None, 405, "method is not allowed"),
    ("DELETE", "/api/message/1", None, None, 405, "method is not allowed"),
    ("GET", "/api/message/999999", None, None, 404, "No message with id 999999"),
    ("GET", "/api/nowhere", None, None, 404, "not found"),
    ("GET", "/api/users/999999", None, None, 404, "No user with id 999999"),
    ("POST", "/api/users/", '{"email": "a@example.com"}', JSON, 422, "Missing field: name"),
    ("POST", "/api/users/", '{"name": "A", "email": "not-an-address"}', JSON, 422, "e-mail address"),
    ("POST", "/api/users/", '{"name": "A", "phone": "555"}', JSON, 422, "E.164"),
    ("POST", "/api/users/", '{"name": "A", "preferences": {"sms": true}}', JSON, 422, "needs field phone"),
    ("POST", "/api/users/", '{"name": "A", "admin": true}', JSON, 422, "Unknown field: admin"),
    ("PATCH", "/api/users/2/preferences", '{"sms": "yes"}', JSON, 422, "sms must be of type boolean"),
    ("PATCH", "/api/users/2/preferences", '{"fax": true}', JSON, 422, "Unknown field: fax"),
    ("PATCH", "/api/users/2/preferences", "{}", JSON, 422, "at least one"),
    ("PATCH", "/api/users/999999/preferences", '{"sms": true}', JSON, 404, "No user with id 999999"),
    # Integers beyond the id columns' range, in bodies and paths: refused before the database.
    ("POST", MSG, '{"sender": 9223372036854775808, "recipient": 2, "body": "hi"}', JSON, 422, "sender must be an id"),
    ("POST", MSG, '{"sender": 1, "recipient": 2147483648, "body": "hi"}', JSON, 422, "recipient must be an id"),
    ("POST", MSG, '{"sender": 1, "recipient": -1, "body": "hi"}', JSON, 422, "recipient must be an id"),
    ("GET", "/api/message/2147483648", None, None, 404, "No message with id 2147483648"),
    ("GET", "/api/message/99999999999999999999999", None, None, 404, "No message with id"),
    ("GET", "/api/files/9223372036854775808", None, None, 404, "No file with id"),
    ("GET", "/api/users/18446744073709551616", None, None, 404, "No user with id"),
    ("PATCH", "/api/users/9223372036854775808/preferences", '{"sms": true}', JSON, 404, "No user with id"),
    # JSON that Python reads but that is no JSON, or too deep for its parser.
    ("POST", MSG, '{"sender": NaN, "recipient": 2, "body": "hi"}', JSON, 400, "NaN is not JSON"),
    ("POST", MSG, '{"sender": 1, "recipient": 2, "body": "hi", "x": ' + "[" * 30_000 + "]" * 30_000 + "}", JSON,
     400, "nested too deeply"),
    # Text no database column can hold.
    ("POST", MSG, '{"sender": 1, "recipient": 2, "body": "a\\u0000b"}', JSON, 422, "body must not contain NUL"),
    ("POST", MSG, '{"sender": 1, "recipient": 2, "body": "a\\ud800b"}', JSON, 422, "surrogate"),
    ("POST", "/api/users/", '{"name": "A\\u0000"}', JSON, 422, "name must not contain NUL"),
    ("POST", "/api/users/", '{"name": "A", "email": "a@' + "b" * 300 + '.com"}', JSON, 422, "at most 254"),
]


def test_bad_input_gets_a_specific_json_error_and_changes_nothing(api):
    before = send(api, ADA, request_id=f"it-before-{uuid.uuid4().hex[:8]}")
    users_before = _user_count(api)
    bad_ids = []

    for index, (method, path, data, content_type, status, words) in enumerate(BAD_INPUT):
        request_id = f"it-bad-{uuid.uuid4().hex[:8]}-{index}"
        bad_ids.append(request_id)
        headers = {"Content-Type": content_type} if content_type else {}
        response = call(api, method, path, request_id, data=data, headers=headers)
        assert response.status_code == status, (path, data and data[:60], response.text)
        assert response.headers["Content-Type"] == "application/json"
        assert words.lower() in response.json()["error"].lower(), (path, response.json())
        assert response.headers["X-Request-ID"] == request_id
        if status == 405:
            assert response.headers["Allow"], path

    after_rid = f"it-after-{uuid.uuid4().hex[:8]}"
    after = send(api, ADA, request_id=after_rid)
    assert after == before + 1, "a rejected request stored a message"
    assert _user_count(api) == users_before, "a rejected request stored a user"
    # Once the next good message's tasks are visible in Flower, the rejected ones would be too.
    wait_for_tasks(api, after_rid, MESSAGE_WORKFLOW)
    assert all(not flower_tasks(api, request_id) for request_id in bad_ids)
    assert call(api, "GET", f"/api/users/{ALAN}").json()["preferences"]["sms"] is False


def _user_count(stack):
    """Users are numbered from 1 without gaps: the first missing ID tells how many exist."""
    count = 0
    while call(stack, "GET", f"/api/users/{count + 1}").status_code == 200:
        count += 1
    return count


def test_over_limit_bodies_get_a_readable_413_from_ordinary_clients(api):
    """requests and urllib send the whole body before reading: the API must read it too."""
    big = json.dumps({"sender": 1, "recipient": 2, "body": "x" * 4_000_000}).encode()
    url = f"{api.api_url}{MSG}"

    answers = {
        "requests": requests.post(url, data=big, headers={"Content-Type": JSON}, timeout=30),
        "requests chunked": requests.post(url, data=iter([big[:1000], big[1000:]]),
                                          headers={"Content-Type": JSON}, timeout=30),
    }
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url, data=big, headers={"Content-Type": JSON}), timeout=30)

    for client, response in answers.items():
        assert response.status_code == 413, client
        assert "larger than" in response.json()["error"], client
        assert response.headers["X-Request-ID"], client
    assert refused.value.code == 413 and "larger than" in json.loads(refused.value.read())["error"]


def test_requests_gunicorn_refuses_get_a_json_error_with_a_request_id(api):
    """Answered by the API's worker class before the app runs: JSON and an ID all the same."""
    with socket.create_connection(("127.0.0.1", int(api.env["API_PORT"])), timeout=30) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Request-ID: \x1b[2J\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
    assert response.status == 400 and response.getheader("Content-Type") == "application/json"
    assert json.loads(body)["error"] and response.getheader("X-Request-ID")
