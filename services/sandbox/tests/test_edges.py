"""Hostile input at the sandbox's endpoints: a JSON 4xx, never a 500."""

from __future__ import annotations

import pytest
from sandbox import http_provider
from sandbox.faults import FaultBoard
from sandbox.records import Records

NESTED = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def client():
    return http_provider.create_app(FaultBoard(), Records()).test_client()


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("post", "/admin/faults", "[1]", 400),
    ("post", "/admin/faults", '{"latency_ms": 1e400}', 422),
    ("post", "/admin/faults", NESTED, 400),
    ("post", "/push", NESTED, 400),
    ("post", "/v2/enqueue", NESTED, 400),
    ("get", "/admin/requests?since=x", None, 400),
    ("delete", "/push", None, 405),
])
def test_hostile_input_gets_a_json_4xx(client, method, path, body, status):
    response = getattr(client, method)(path, data=body, content_type="application/json")

    assert response.status_code == status, response.data[:200]
    assert response.is_json and response.json["error" if path != "/v2/enqueue" else "message"]
    assert response.headers["X-Request-ID"]
    if status == 405:
        assert "POST" in response.headers["Allow"]
