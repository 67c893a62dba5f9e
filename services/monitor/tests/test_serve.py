"""The monitor's web answers: JSON errors with their headers, never an HTML page."""

from __future__ import annotations

from monitor.config import Settings
from monitor.serve import create_app


def test_errors_are_json_with_their_headers(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'monitor.db'}")
    monkeypatch.setenv("BROKER_URL", "amqp://guest:guest@127.0.0.1:1//")
    client = create_app(Settings.from_env()).test_client()

    wrong_method = client.delete("/api/traces/demo-42")
    unknown = client.get("/api/traces/demo-42")
    ill_formed = client.get("/api/traces/demo%0A42")

    assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["Allow"]
    assert (unknown.status_code, ill_formed.status_code) == (404, 400)
    for response in (wrong_method, unknown, ill_formed):
        assert response.is_json and response.json["error"] and response.headers["X-Request-ID"]
