"""File uploads processed by the remote processor, checked from outside like a user would."""

from __future__ import annotations

import http.client
import json
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import requests
from celery import Celery
from threadline.conf import celery_config

from devtools.stack import ROOT, Stack, poll_until
from tests.integration.support import flower_tasks, wait_for_tasks


def csv_rows(count: int) -> str:
    """A CSV with an id, a text and a numeric column and ``count`` rows."""
    return "id,name,score\n" + "".join(f"{i},name{i},{i % 100 / 2}\n" for i in range(1, count + 1))


def upload(
    stack: Stack, request_id: str, content: str | bytes, *, name: str = "data.csv",
    content_type: str = "text/csv", validate: str | None = None,
) -> requests.Response:
    params = {"validate": validate} if validate else None
    return requests.post(
        f"{stack.api_url}/api/files/", files={"file": (name, content, content_type)}, params=params,
        headers={"X-Request-ID": request_id}, timeout=60,
    )


def file_status(stack: Stack, file_id: int) -> dict[str, Any]:
    response = requests.get(f"{stack.api_url}/api/files/{file_id}", timeout=10)
    response.raise_for_status()
    return response.json()


def wait_finished(stack: Stack, file_id: int, timeout: float = 90) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        record = file_status(stack, file_id)
        return record if record["status"] in ("succeeded", "failed") else None

    return poll_until(finished, f"file {file_id} finished", timeout=timeout)  # type: ignore[return-value]


def make_grep(stack: Stack, request_id: str) -> list[tuple[str, str]]:
    """(process, line) pairs printed by `make grep RID=...` (the command behind it)."""
    out = subprocess.run(
        [sys.executable, "-m", "devtools.stack", "grep", request_id], env=stack.env, cwd=ROOT,
        capture_output=True, text=True, timeout=60,
    ).stdout
    return [tuple(part.strip() for part in line.split(" | ", 1)) for line in out.splitlines()]  # type: ignore[misc]


def test_statistics_of_an_upload_and_its_workflow_in_every_log(stack):
    response = upload(stack, "it-file-stats", "city,temp,rain\nOslo,4.5,\nRome,18,2\nLima,,0.5\n")

    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    record = wait_finished(stack, response.json()["file_id"])
    assert record["status"] == "succeeded", record
    assert record["progress"] == {"rows": 3, "percent": 100.0}
    city, temp, rain = record["result"]["columns"]
    assert record["result"]["rows"] == 3
    assert city == {"name": "city", "type": "text", "count": 3, "empty": 0}
    assert temp == {"name": "temp", "type": "number", "count": 2, "empty": 1, "min": 4.5, "max": 18.0, "mean": 11.25}
    assert rain["min"] == 0.5 and rain["max"] == 2.0

    def every_part_logged() -> list[tuple[str, str]] | None:
        lines = make_grep(stack, "it-file-stats")
        text = {process: " ".join(line for where, line in lines if where == process) for process, _ in lines}
        wanted = {"api": "stored and sent", "processor": "Processed", "api-worker": "succeeded: 3 rows"}
        return lines if all(part in text.get(process, "") for process, part in wanted.items()) else None

    poll_until(every_part_logged, "API, processor and callback lines in make grep", timeout=60)


def test_malformed_file_fails_with_its_line_number_through_the_remote_errback(stack):
    response = upload(stack, "it-file-bad", "a,b\n1,2\n3,4\n5,6,7\n8,9\n")

    record = wait_finished(stack, response.json()["file_id"])

    assert record["status"] == "failed"
    assert record["error"] == "line 4: 3 fields, the header has 2"
    # The processor could not import the API's errback, yet it ran on the API's own worker.
    wait_for_tasks(stack, "it-file-bad", {"processor.process_file": "processor"}, state="FAILURE")
    wait_for_tasks(stack, "it-file-bad", {"api.file_failed": "api-worker"})
    assert "api.file_processed" not in flower_tasks(stack, "it-file-bad")
    processor_log = (stack.log_dir / "processor.log").read_text()
    assert "NotRegistered" not in processor_log


def test_bad_uploads_get_a_json_error_and_store_nothing(stack):
    store = Path(stack.env["FILE_STORE"])
    before = set(store.glob("*")) if store.exists() else set()
    url = f"{stack.api_url}/api/files/"
    cases = {
        "json body": requests.post(url, json={"file": "a,b"}, timeout=10),
        "no file field": requests.post(url, files={"other": ("a.csv", "a,b\n", "text/csv")}, timeout=10),
        "image": upload(stack, "it-bad-type", b"\x89PNG...", name="a.png", content_type="image/png"),
        "empty file": upload(stack, "it-empty", b""),
        "bad validate": upload(stack, "it-bad-mode", "a\n1\n", validate="later"),
    }
    expected = {"json body": 415, "no file field": 400, "image": 415, "empty file": 422, "bad validate": 400}

    assert {case: response.status_code for case, response in cases.items()} == expected
    for case, response in cases.items():
        assert response.headers["Content-Type"] == "application/json", case
        assert response.json()["error"], case
    assert "image/png" in cases["image"].json()["error"]
    assert _declared_size_status(stack, int(stack.env["API_MAX_UPLOAD_BYTES"]) + 1) == (413, "application/json")
    assert requests.get(f"{url}999999", timeout=10).status_code == 404
    assert set(store.glob("*")) - before == set()


def _declared_size_status(stack: Stack, size: int) -> tuple[int, str]:
    """An upload that announces ``size`` bytes is refused before its body is read."""
    conn = http.client.HTTPConnection("127.0.0.1", int(stack.env["API_PORT"]), timeout=10)
    try:
        conn.putrequest("POST", "/api/files/")
        conn.putheader("Content-Type", "multipart/form-data; boundary=x")
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", "")
    finally:
        conn.close()


def test_sync_validation_checks_the_header_remotely_before_accepting(stack):
    good = upload(stack, "it-sync-ok", "a,b\n1,2\n", validate="sync")
    bad = upload(stack, "it-sync-bad", "a,b,a\n1,2,3\n", validate="sync")

    assert good.status_code == 202, good.text
    assert good.json()["columns"] == ["a", "b"]
    assert wait_finished(stack, good.json()["file_id"])["status"] == "succeeded"
    assert bad.status_code == 422
    assert bad.json()["error"] == "Malformed CSV: line 1: column 'a' appears twice"
    assert "processor.check_header" in flower_tasks(stack, "it-sync-bad")



def test_processor_reads_nothing_outside_the_file_store(stack, tmp_path):
    outside = tmp_path / "secret.csv"
    outside.write_text("password,pin\nhunter2,1234\n")
    # Up past the root and down again: the same file, named from inside the store.
    sneaky = str(Path(stack.env["FILE_STORE"], *[".."] * 30, outside.relative_to(outside.anchor)))
    # A caller like the API: the processor's queue as it is declared, answers over rpc://.
    client = Celery(set_as_current=False)
    client.conf.update(celery_config(stack.env["BROKER_URL"], ("processor",)), result_backend="rpc://")
    try:
        check = client.send_task("processor.check_header", args=[str(outside)], queue="processor")
        assert "is not a file under the file store" in check.get(timeout=60)["error"]
        for path in (str(outside), sneaky):
            request_id = f"it-outside-{uuid.uuid4().hex[:8]}"
            client.send_task("processor.process_file", args=[path], queue="processor",
                             task_id=f"{request_id}_{uuid.uuid4()}")
            task = wait_for_tasks(stack, request_id, {"processor.process_file": "processor"}, "FAILURE")
            assert "is not a file under the file store" in task["processor.process_file"]["exception"]
    finally:
        client.close()
    # process_file writes its attempt count beside a file before it reads it: none was written.
    assert sorted(tmp_path.iterdir()) == [outside]


def _strict_json(text: str) -> Any:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_file_status_is_valid_json_for_inf_nan_and_overflowing_columns(stack):
    response = upload(stack, "it-file-inf", "a,b,c\ninf,nan,1e308\n-inf,NaN,1e308\n")
    file_id = response.json()["file_id"]
    assert wait_finished(stack, file_id)["status"] == "succeeded"
    fresh = _strict_json(requests.get(f"{stack.api_url}/api/files/{file_id}", timeout=10).text)
    assert [(column["type"], column.get("mean")) for column in fresh["result"]["columns"]] == [
        ("text", None), ("text", None), ("number", None)]
    # A row as a processor that reported inf and nan as numbers stored it.
    with sqlite3.connect(stack.env["DATABASE_URL"].removeprefix("sqlite:///")) as db:
        db.execute("UPDATE files SET result = ?, percent = ? WHERE id = ?",
                   ('{"rows": 2, "columns": [{"name": "a", "type": "number", "min": -Infinity, "mean": NaN}]}',
                    float("inf"), file_id))

    record = _strict_json(requests.get(f"{stack.api_url}/api/files/{file_id}", timeout=10).text)

    assert record["result"]["columns"] == [{"name": "a", "type": "number", "min": None, "mean": None}]
    assert record["progress"]["percent"] is None
