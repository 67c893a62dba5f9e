"""The monitor seen from outside: its trace API, and its consumer as a process of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from kombu import Connection, Exchange, Producer

from devtools.envfile import ROOT
from devtools.stack import Stack, is_alive, poll_until

WORKER = "notifier@it-host"
EVENTS = Exchange("celeryev", type="topic")


def lifecycle(task_id: str, name: str, start: float) -> list[tuple[str, dict[str, Any]]]:
    """One try of a task, in the order Celery emits its events, each with its own time."""
    return [
        ("task-sent", {"uuid": task_id, "name": name, "queue": "push", "retries": 0, "timestamp": start}),
        ("task-received", {"uuid": task_id, "name": name, "retries": 0, "hostname": WORKER, "timestamp": start + 0.01}),
        ("task-started", {"uuid": task_id, "hostname": WORKER, "timestamp": start + 0.02}),
        ("task-succeeded", {"uuid": task_id, "hostname": WORKER, "runtime": 0.05, "timestamp": start + 0.07}),
    ]


def failing(task_id: str, name: str, start: float, exception: str) -> list[tuple[str, dict[str, Any]]]:
    """One try of a task that ends in FAILURE with ``exception``."""
    *before, _ = lifecycle(task_id, name, start)
    return [*before, ("task-failed", {"uuid": task_id, "hostname": WORKER, "exception": exception,
                                      "traceback": f"Traceback (most recent call last):\n{exception}",
                                      "timestamp": start + 0.07})]


def send_events(stack: Stack, events: list[tuple[str, dict[str, Any]]]) -> None:
    """Publish events as Celery's dispatcher does: JSON on the event exchange, keyed by type."""
    with Connection(stack.env["BROKER_URL"]) as connection:
        producer = Producer(connection.channel(), exchange=EVENTS)
        for kind, fields in events:
            producer.publish({"type": kind, **fields}, routing_key=kind.replace("-", "."), serializer="json")


# Task names of one message's workflow, parent first.
FAN_OUT = "notifier.send_notification"
CHANNEL_TASKS = ("notifier.send_push", "notifier.send_email", "notifier.send_sms")


RAGGED_CSV = "name,age\nada,36\nalan\n"  # line 3 has one field: the processor fails it


def post_file(stack: Stack, request_id: str, directory: Path, text: str = RAGGED_CSV) -> requests.Response:
    """POST a CSV file with ``text`` as ``request_id``."""
    path = directory / f"{request_id}.csv"
    path.write_text(text)
    with open(path, "rb") as handle:
        return requests.post(f"{stack.api_url}/api/files/", files={"file": (path.name, handle, "text/csv")},
                             headers={"X-Request-ID": request_id}, timeout=10)


def get_trace(stack: Stack, request_id: str) -> requests.Response:
    return requests.get(f"{stack.monitor_url}/api/traces/{request_id}", timeout=10)


def walk(nodes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for node in nodes:
        yield node
        yield from walk(node["children"])


def tasks_by_name(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for node in walk(document["tasks"]):
        found.setdefault(node["name"], []).append(node)
    return found


def wait_trace(
    stack: Stack, request_id: str, ready: Callable[[dict[str, Any]], bool], what: str, timeout: float = 90
) -> dict[str, Any]:
    """Poll the trace API until ``ready(document)``; the last document is in the timeout's message."""

    def check() -> dict[str, Any]:
        # Raised, not returned: poll_until reports the last exception when time runs out.
        response = get_trace(stack, request_id)
        if response.status_code != 200:
            raise AssertionError(f"{response.status_code} {response.text[:200]}")
        document = response.json()
        if not ready(document):
            raise AssertionError(f"not yet: {document['summary']}")
        return document

    return poll_until(check, f"trace of {request_id}: {what}", timeout=timeout)  # type: ignore[return-value]


def settled(names: tuple[str, ...], state: str = "SUCCESS") -> Callable[[dict[str, Any]], bool]:
    """A ``ready`` check: each named task is there, in ``state``."""

    def check(document: dict[str, Any]) -> bool:
        found = tasks_by_name(document)
        return all(any(node["state"] == state for node in found.get(name, [])) for name in names)

    return check


class Consumer:
    """The monitor's consumer (``python -m monitor.ingest``) run by a test, to stop and kill it."""

    def __init__(self, stack: Stack, **settings: str) -> None:
        self.stack, self.settings = stack, settings
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, **settings: str) -> None:
        """Start it with the stack's settings, this consumer's, then ``settings``."""
        with open(self.stack.log_dir / "monitor.out", "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "monitor.ingest"], env={**self.stack.env, **self.settings, **settings}, cwd=ROOT,
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        poll_until(self._beats, "the monitor's consumer beats", timeout=60)

    def _beats(self) -> bool:
        health = requests.get(f"{self.stack.monitor_url}/api/health", timeout=2).json()
        return bool(health["consumer"]["alive"])

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        if self.process is not None and is_alive(self.process.pid):
            os.kill(self.process.pid, signum)
            self.process.wait(timeout=30)
        self.process = None


def stack_without_consumer(start_stack: Callable[..., Stack], directory: Path, **settings: str) -> Stack:
    """A stack whose Procfile leaves out the monitor's consumer: a test runs that (``running``)."""
    procfile = directory / "Procfile"
    lines = (ROOT / "Procfile").read_text().splitlines()
    procfile.write_text("".join(f"{line}\n" for line in lines if "monitor.ingest" not in line))
    return start_stack(procfile=procfile, **settings)


@contextmanager
def running(stack: Stack, **settings: str) -> Iterator[Consumer]:
    """The monitor's consumer for ``stack`` while the block runs."""
    process = Consumer(stack, **settings)
    process.start()
    try:
        yield process
    finally:
        process.stop()
