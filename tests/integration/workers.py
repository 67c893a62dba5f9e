"""Workers a test starts, stops and kills itself, by their own PIDs.

honcho cannot stop, start or kill one of its processes alone (it stops them all when one
exits). So a test that must do so pauses the stack's own worker of that queue (Celery's
cancel_consumer) and runs a worker of its own: the Procfile's command, against the same
vhost, database and files, with the settings the test needs.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from celery import Celery

from devtools.stack import ROOT, Stack, descendants, is_alive, poll_until


class TestWorker:
    """One worker of the Procfile's process ``process``, run by the test."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(self, stack: Stack, process: str, **settings: str) -> None:
        self.process_name = process
        self.name = f"{process}-it-{uuid.uuid4().hex[:6]}@%h"
        self.env = {**stack.env, **settings}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> TestWorker:
        command = shlex.split(procfile_command(self.process_name))
        command[command.index("-n") + 1] = self.name
        self.process = subprocess.Popen(
            command, env=self.env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )
        poll_until(lambda: answers(self.env["BROKER_URL"], self.name), "the test's worker answers", timeout=90)
        return self

    def stop(self) -> None:
        """Warm shutdown, as a deployment would stop it; SIGKILL only if it hangs."""
        if self.process is None:
            return
        tree = [self.process.pid, *descendants(self.process.pid)]
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        finally:
            kill_all(tree)
            self.process = None

    def kill_main(self) -> None:
        """SIGKILL the worker's main process, as an OOM killer would; its pool follows it."""
        assert self.process is not None
        tree = [self.process.pid, *descendants(self.process.pid)]
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        # Pool processes notice their parent is gone; any that linger are ended by PID.
        poll_until(lambda: not any(is_alive(pid) for pid in tree[1:]) or kill_all(tree[1:]),
                   "the killed worker's pool processes gone", timeout=30)
        self.process = None

    def pool(self) -> list[int]:
        assert self.process is not None
        return descendants(self.process.pid)


def kill_all(pids: list[int]) -> bool:
    for pid in pids:
        if is_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return False


def procfile_command(name: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        key, _, command = line.partition(":")
        if key.strip() == name:
            return command.strip()
    raise LookupError(f"no {name} in the Procfile")


def control(broker_url: str) -> Celery:
    return Celery(broker=broker_url, set_as_current=False)


def answers(broker_url: str, pattern: str) -> bool:
    app = control(broker_url)
    try:
        names = {name for reply in app.control.ping(timeout=1.0) for name in reply}
    finally:
        app.close()
    return any(name.startswith(pattern.split("@")[0] + "@") for name in names)


@contextmanager
def paused(stack: Stack, worker: str, queue: str) -> Iterator[None]:
    """While inside, the stack's own ``worker`` consumes nothing from ``queue``."""
    app = control(stack.env["BROKER_URL"])
    replies = app.control.ping(timeout=2.0)
    regular = [name for reply in replies for name in reply if name.startswith(f"{worker}@")]
    assert regular, f"the stack's {worker} does not answer: {replies}"
    app.control.cancel_consumer(queue, destination=regular, reply=True, timeout=10)
    try:
        yield
    finally:
        app.control.add_consumer(queue, destination=regular, reply=True, timeout=10)
        app.close()
