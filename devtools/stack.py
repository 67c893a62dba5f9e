"""Start, check and stop the local-process stack (honcho running the Procfile).

    python -m devtools.stack up | down | status | where | grep RID | trace RID [--json] | report [--send]
                            | deadletters list|redrive
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests
from celery import Celery

from devtools import envfile, loggrep, rabbit

ROOT = envfile.ROOT
WORKERS = ("api", "notifier", "notifier-push", "notifier-email", "notifier-sms", "processor", "monitor")
# Every queue of the stack (threadline.conf declares them as quorum queues).
QUEUES = ("api", "notifications", "push", "email", "sms", "processor")


class StackError(RuntimeError):
    pass


def poll_until(check: Callable[[], object], what: str, timeout: float = 60, interval: float = 0.5) -> object:
    """Call ``check`` until it returns something truthy; on timeout, say what and the last error."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
            last = result
        except StackError:
            raise
        except Exception as exc:
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout} s (last: {last!r})")


class Stack:
    """One running copy of the Procfile's processes, with its own settings and log directory."""

    def __init__(self, env: dict[str, str], run_dir: Path, procfile: Path = ROOT / "Procfile") -> None:
        self.env = env
        self.run_dir = run_dir
        self.procfile = procfile
        self.pid_file = run_dir / "stack.pid"
        self.log_dir = Path(env["LOG_DIR"])

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.env['API_PORT']}"

    @property
    def flower_url(self) -> str:
        return f"http://127.0.0.1:{self.env['FLOWER_PORT']}"

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.env.get('MONITOR_PORT', '8070')}"

    @property
    def flower_auth(self) -> tuple[str, str]:
        user, _, password = self.env["FLOWER_BASIC_AUTH"].partition(":")
        return user, password

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if is_alive(pid) else None

    def start(self, timeout: float = 120) -> None:
        """Start every process unless this stack already runs; return once it is healthy."""
        if self.pid() is None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.log_dir.mkdir(parents=True, exist_ok=True)
            with open(self.log_dir / "honcho.out", "ab") as out:
                # -e os.devnull: the environment is complete already, and it must win over .env.
                command = ["honcho", "start", "-f", str(self.procfile), "-d", str(ROOT), "-e", os.devnull]
                process = subprocess.Popen(
                    [sys.executable, "-m", *command],
                    env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True, cwd=ROOT,
                )
            self.pid_file.write_text(str(process.pid))
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float) -> None:
        poll_until(self._api_healthy, "API health", timeout)
        poll_until(self._workers_answer, "every worker answers a ping", timeout)
        poll_until(self._flower_answers, "Flower answers", timeout)
        poll_until(self._sandbox_answers, "the sandbox providers answer", timeout)
        poll_until(self._monitor_answers, "the monitor answers and its consumer beats", timeout)
        self._seed()

    def _api_healthy(self) -> bool:
        if self.pid() is None:
            raise StackError(f"The stack exited; see {self.log_dir}/honcho.out and the process logs")
        return requests.get(f"{self.api_url}/api/health", timeout=2).status_code == 200

    def _workers_answer(self) -> bool:
        app = Celery(broker=self.env["BROKER_URL"])
        try:
            replies = app.control.ping(timeout=1.0)
        finally:
            app.close()
        names = {name.split("@")[0] for reply in replies for name in reply}
        return set(WORKERS) <= names

    def _flower_answers(self) -> bool:
        return requests.get(f"{self.flower_url}/api/workers", auth=self.flower_auth, timeout=2).status_code == 200

    def _sandbox_answers(self) -> bool:
        url = f"http://127.0.0.1:{self.env.get('SANDBOX_HTTP_PORT', '8090')}/health"
        return requests.get(url, timeout=2).status_code == 200

    def _monitor_answers(self) -> bool:
        health = requests.get(f"{self.monitor_url}/api/health", timeout=2).json()
        # A stack whose Procfile leaves the consumer out (tests that start and kill it) waits
        # for the pages only.
        return health["consumer"]["alive"] or "monitor.ingest" not in self.procfile.read_text()

    def _seed(self) -> None:
        # The demo users the README's curl sends between; adding them again changes nothing.
        subprocess.run([sys.executable, "-m", "api.seed"], env=self.env, cwd=ROOT, check=True, timeout=60)

    def stop(self, timeout: float = 30) -> None:
        """Stop honcho and everything below it, pool children included."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        tree = descendants(pid)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(is_alive(p) for p in [pid, *tree]):
            time.sleep(0.2)
        for leftover in [p for p in [pid, *tree] if is_alive(p)]:
            os.kill(leftover, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)

    def processes(self) -> list[int]:
        """PIDs of honcho and all its descendants."""
        pid = self.pid()
        return [] if pid is None else [pid, *descendants(pid)]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def is_alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def local_stack() -> Stack:
    env = envfile.load()
    # The Procfile's commands come from this virtual environment.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return Stack(env, ROOT / "run")


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "status"
    stack = local_stack()
    if command == "up":
        rabbit.ensure(stack.env["BROKER_URL"])
        if rabbit.is_local(stack.env["BROKER_URL"]):
            for name in rabbit.replace_classic_queues(stack.env["BROKER_URL"], QUEUES):
                print(f"Queue {name} was a classic queue; it is declared again as a quorum queue.")
        already = stack.pid() is not None
        stack.start()
        _print_where_to_look(stack, already)
    elif command == "down":
        stack.stop()
        print("Stack stopped.")
    elif command == "status":
        print("running" if stack.pid() else "stopped")
    elif command == "where":  # after `docker compose up`: the same addresses, from .env
        _print_where_to_look(stack, already=False)
    elif command == "grep" and len(argv) == 2:
        return loggrep.main(argv[1], stack.log_dir)
    elif command == "deadletters" and len(argv) == 2:
        # The stack's broker URL, from .env, for threadline's command.
        return subprocess.run([sys.executable, "-m", "threadline.deadletter", argv[1]], env=stack.env).returncode
    elif command == "trace" and len(argv) >= 2:
        from monitor import terminal  # the monitor's own client; only this command needs it

        return terminal.main(["--url", stack.monitor_url, *argv[1:]])
    elif command == "report":
        # The monitor's own code, with the stack's settings: it reads the monitor's tables.
        report = [sys.executable, "-m", "monitor.report", *argv[1:]]
        return subprocess.run(report, env=stack.env, check=False).returncode
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


def _print_where_to_look(stack: Stack, already: bool) -> None:
    user, password = stack.flower_auth
    print(
        f"Threadline is {'already ' if already else ''}running.\n"
        f"  API:    {stack.api_url}/api/message/\n"
        f"  Flower: {stack.flower_url}  (user {user}, password {password})\n"
        f"  Traces: {stack.monitor_url}/traces/  (make trace RID=...)\n"
        f"  Logs:   {stack.log_dir}/  (make logs, make grep RID=...)\n"
        f"  Stop:   make down"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
