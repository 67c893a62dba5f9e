"""Fixtures: a private RabbitMQ vhost per session and real `celery`/`gunicorn` subprocesses.

Every process the tests start writes JSON log lines to its own file in one log directory; the
tests read those lines the way a user greps them. Processes are stopped by the PIDs started
here (pool children included) and the vhost is deleted at the end.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools import rabbit

HERE = Path(__file__).resolve().parent
APPS, REMOTE = HERE / "apps", HERE / "remote"
BROKER = "amqp://guest:guest@localhost:5672/{vhost}"
# The pool of the workers the tests start: make test runs the propagation tests with each.
POOL = os.environ.get("TL_POOL", "prefork")


def poll_until(check: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
    """Call ``check`` until it returns something truthy; fail with its last error on timeout."""
    deadline, last = time.monotonic() + timeout, None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last error: {last!r}")
        time.sleep(0.2)


class Logs:
    """The JSON log lines a process wrote to ``<log dir>/<name>.log``."""

    def __init__(self, log_dir: Path) -> None:
        self.dir = log_dir

    def text(self, name: str) -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def records(self, name: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text(name).splitlines() if line.strip()]

    def of_task(self, name: str, task_id: str) -> list[dict[str, Any]]:
        return [r for r in self.records(name) if r["task_id"] == task_id or task_id in r["message"]]

    def wait_for(self, name: str, predicate: Callable[[dict[str, Any]], bool], what: str, count: int = 1,
                 timeout: float = 90.0) -> list[dict[str, Any]]:
        def found() -> list[dict[str, Any]]:
            hits = [r for r in self.records(name) if predicate(r)]
            return hits if len(hits) >= count else []

        try:
            return poll_until(found, what, timeout)  # type: ignore[no-any-return]
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- last lines of {name}.log ---\n{self.text(name)[-4000:]}") from None


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        path = Path(f"/proc/{todo.pop()}/task")
        for task in path.glob("*/children") if path.exists() else ():
            kids = [int(p) for p in task.read_text().split()]
            found += kids
            todo += kids
    return found


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop ``proc`` and every process it started, by PID; nothing is left behind."""
    family = descendants(proc.pid)
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
    for pid in family:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    """The session's broker vhost, directories and the processes it started."""

    poll_until = staticmethod(poll_until)
    stop = staticmethod(stop)
    pool = POOL

    def __init__(self, root: Path, vhost: str) -> None:
        self.broker = BROKER.format(vhost=vhost)
        self.log_dir, self.result_dir = root / "logs", root / "results"
        self.log_dir.mkdir()
        self.result_dir.mkdir()
        self.logs = Logs(self.log_dir)
        self.env = {
            **os.environ,
            "BROKER_URL": self.broker,
            "RESULT_DIR": str(self.result_dir),
            "LOG_DIR": str(self.log_dir),
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            "PYTHONPATH": os.pathsep.join([str(APPS), str(HERE.parents[1])]),
        }
        self.processes: list[tuple[subprocess.Popen[bytes], int]] = []

    def start(self, args: list[str], *, process: str, extra_path: Path | None = None, ready: str | None = None,
              stop_signal: int = signal.SIGTERM) -> subprocess.Popen[bytes]:
        env = {**self.env, "TL_PROCESS": process}
        if extra_path is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(extra_path), str(HERE.parents[1])])
        out = (self.log_dir / f"{process}.out").open("wb")
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=self.log_dir)
        self.processes.append((proc, stop_signal))
        if ready is not None:
            self.logs.wait_for(process, lambda r: ready in r["message"], f"{process}: {ready!r}", timeout=120)
        return proc

    def worker(self, app: str, queue: str, process: str, extra_path: Path | None = None) -> subprocess.Popen[bytes]:
        return self.start(
            [sys.executable, "-m", "celery", "-A", app, "worker", "-P", POOL, "-c", "2", "-Q", queue,
             "-n", f"{process}-{uuid.uuid4().hex[:6]}@%h", "-l", "INFO", "--without-gossip", "--without-mingle"],
            process=process, extra_path=extra_path, ready=" ready.", stop_signal=signal.SIGQUIT,
        )

    def stop_all(self) -> None:
        for proc, sig in reversed(self.processes):
            stop(proc, sig)


@pytest.fixture
def root_restored() -> Iterator[None]:
    """The root logger's handlers and level as they were before the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    vhost = f"threadline-shared-{uuid.uuid4().hex[:8]}"
    rabbit.add_vhost(vhost)
    stack = Stack(tmp_path_factory.mktemp("threadline"), vhost)
    # The test process publishes through the same app module the worker runs.
    for key in ("BROKER_URL", "RESULT_DIR", "LOG_DIR", "LOG_FORMAT"):
        os.environ[key] = stack.env[key]
    sys.path.insert(0, str(APPS))
    try:
        yield stack
    finally:
        stack.stop_all()
        rabbit.delete_vhost(vhost)


@pytest.fixture(scope="session")
def caller(stack: Stack) -> Any:
    """The tl_caller module, with its worker (prefork, 2 processes) running."""
    stack.worker("tl_caller", "caller", "caller")
    import tl_caller

    return tl_caller


@pytest.fixture(scope="session")
def remote_worker(stack: Stack, caller: Any) -> subprocess.Popen[bytes]:
    """A worker of the other codebase: only tl_remote on its path, not the caller's code."""
    return stack.worker("tl_remote", "remote", "remote", extra_path=REMOTE)


@pytest.fixture(scope="session")
def web(stack: Stack, caller: Any) -> str:
    """gunicorn serving tl_web with threadline's logger and worker classes; its base URL."""
    port = free_port()
    stack.start(
        [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "1", "-n", "web",
         "--logger-class", "threadline.gunicorn.Logger", "-k", "threadline.gunicorn.ThreadWorker",
         "--threads", "2", "--access-logfile", "-", "tl_web:app"],
        process="web", ready="Booting worker",
    )
    return f"http://127.0.0.1:{port}"
