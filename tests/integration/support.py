"""What the integration tests do as a user would: HTTP in, Flower and the logs out."""

from __future__ import annotations

from typing import Any

import requests

from devtools import loggrep
from devtools.stack import Stack, poll_until

# What one message produces: each task of the workflow and the log file it runs in.
MESSAGE_WORKFLOW = {
    "notifier.send_notification": "notifier",
    "notifier.send_push": "notifier",
    "notifier.send_email": "notifier",
    "notifier.send_sms": "notifier",
}
FILE_WORKFLOW = {
    "processor.process_file": "processor",
    "api.file_processed": "api-worker",
}


def post_message(stack: Stack, request_id: str, **fields: Any) -> requests.Response:
    body = {"sender": 1, "recipient": 2, "body": "hello there", **fields}
    return requests.post(f"{stack.api_url}/api/message/", json=body, headers={"X-Request-ID": request_id}, timeout=10)


def flower_tasks(stack: Stack, request_id: str) -> dict[str, dict[str, Any]]:
    """The tasks Flower knows whose IDs start with ``request_id``, by task name."""
    response = requests.get(f"{stack.flower_url}/api/tasks", auth=stack.flower_auth, timeout=10)
    response.raise_for_status()
    return {task["name"]: task for task_id, task in response.json().items() if task_id.startswith(f"{request_id}_")}


def wait_for_tasks(
    stack: Stack, request_id: str, names: dict[str, str], state: str = "SUCCESS"
) -> dict[str, dict[str, Any]]:
    """Poll Flower until every task in ``names`` of this request is in ``state``."""

    def settled() -> dict[str, dict[str, Any]] | None:
        tasks = flower_tasks(stack, request_id)
        states = {name: tasks.get(name, {}).get("state") for name in names}
        return tasks if all(value == state for value in states.values()) else None

    return poll_until(settled, f"tasks of {request_id} all {state}", timeout=90)  # type: ignore[return-value]


def log_lines(stack: Stack, request_id: str) -> list[tuple[str, str]]:
    """(process, line) for every log line that contains ``request_id``, in time order."""
    return [(process, line) for _, process, line in loggrep.matching_lines(request_id, stack.log_dir)]
