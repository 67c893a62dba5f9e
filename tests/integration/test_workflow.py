"""One traced POST, followed from outside through Flower and every service's logs."""

from __future__ import annotations

import re

import requests

from devtools.stack import poll_until
from tests.integration.support import (
    FILE_WORKFLOW,
    MESSAGE_WORKFLOW,
    log_lines,
    post_message,
    wait_for_tasks,
)


def test_message_workflow_is_found_by_its_request_id(stack):
    response = post_message(stack, "it-msg-1")

    assert response.status_code == 202
    assert response.headers["X-Request-ID"] == "it-msg-1"
    assert response.json()["request_id"] == "it-msg-1"
    tasks = wait_for_tasks(stack, "it-msg-1", MESSAGE_WORKFLOW)
    fan_out = tasks["notifier.send_notification"]["uuid"]
    for name in MESSAGE_WORKFLOW.keys() - {"notifier.send_notification"}:
        assert tasks[name]["parent"] == fan_out

    lines = poll_until(lambda: _lines_for_every_task(stack, "it-msg-1", MESSAGE_WORKFLOW), "log lines of every task")
    api_lines = [line for process, line in lines if process == "api"]
    assert any("accepted" in line for line in api_lines)
    assert any("POST /api/message/" in line and " 202 " in line for line in api_lines)


def _lines_for_every_task(stack, request_id, workflow):
    """All lines of the request once each task has its received and succeeded lines."""
    lines = log_lines(stack, request_id)
    for name, process in workflow.items():
        own = [line for where, line in lines if where == process and f"{name}[{request_id}_" in line]
        if not (any("received" in line for line in own) and any("succeeded" in line for line in own)):
            return None
    return lines


def test_every_line_of_a_task_carries_the_request_id_field(stack):
    post_message(stack, "it-msg-2")
    wait_for_tasks(stack, "it-msg-2", MESSAGE_WORKFLOW)
    lines = poll_until(lambda: _lines_for_every_task(stack, "it-msg-2", MESSAGE_WORKFLOW), "log lines of every task")

    for _, line in lines:
        assert " rid=it-msg-2 " in line


def test_file_workflow_crosses_codebases_and_comes_back(stack, tmp_path):
    csv_file = tmp_path / "people.csv"
    csv_file.write_text("name,age\nada,36\nalan,41\n")
    with open(csv_file, "rb") as handle:
        response = requests.post(
            f"{stack.api_url}/api/files/", files={"file": ("people.csv", handle, "text/csv")},
            headers={"X-Request-ID": "it-file-1"}, timeout=10,
        )
    assert response.status_code == 202
    file_url = f"{stack.api_url}/api/files/{response.json()['file_id']}"

    record = poll_until(lambda: _finished(requests.get(file_url, timeout=5).json()), "file processed")
    assert record["status"] == "succeeded"
    wait_for_tasks(stack, "it-file-1", FILE_WORKFLOW)
    processes = {process for process, _ in poll_until(
        lambda: _lines_for_every_task(stack, "it-file-1", FILE_WORKFLOW), "log lines of the file workflow")}
    assert {"api", "processor", "api-worker"} <= processes


def _finished(record):
    return record if record["status"] in ("succeeded", "failed") else None


def test_ill_formed_request_id_is_replaced_not_echoed(stack):
    response = post_message(stack, "not a valid id; rm -rf")

    echoed = response.headers["X-Request-ID"]
    assert response.status_code == 202
    assert echoed != "not a valid id; rm -rf"
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", echoed)
    wait_for_tasks(stack, echoed, MESSAGE_WORKFLOW)


def test_request_without_id_gets_one(stack):
    response = post_message(stack, "")

    assert re.fullmatch(r"[0-9a-v]{16}", response.headers["X-Request-ID"])
