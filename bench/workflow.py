"""The notification workflow end to end against a bare Celery fan-out, and POST against a bare
publish endpoint, on one machine, in alternating pairs.

    .venv/bin/python bench/workflow.py [--messages 1000] [--posts 600] [--pairs 6] [--concurrency 8]

A private stack (own vhost, ports, SQLite database) runs as `make up` runs it, beside a bare
stack: a gunicorn app with one endpoint under the API's gunicorn settings and a worker with as
many pool processes as the notifier's four workers together, the same Celery reliability
settings and log level, and no tracing. Each pair runs:
(a) N messages POSTed with concurrency to /api/message/, timed from the first POST until the
sandbox recorded every delivery (3 per message), and N POSTs to the bare endpoint, whose task
publishes 3 no-op tasks (one queue each), timed until every no-op ran;
(b) the bare fan-out again with tasks that make only their channel's provider call, as the
notifier makes it, against the same sandbox: no database, no retries, no tracing set up. It is
the most any workflow can reach that must reach real providers on this machine;
(c) M POSTs to /api/message/ and M to the bare endpoint, with the server CPU (gunicorn master
and workers, from /proc) per request. The endpoints are measured alone: the workers stop
consuming their first queue meanwhile, so that neither side's background work competes with
its requests.
Orders alternate between pairs; the system is drained between runs. It prints every pair, with
the CPU milliseconds per message each kind of process spent in (a) and (b), the broker's
included, and the median ratios, and writes its row into bench/README.md.

This file is also the bare worker's app module (``-A workflow``) and the bare API
(``workflow:bare_api``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from celery import Celery
from flask import Flask, jsonify, request

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CHANNELS = ("push", "email", "sms")
# Demo user 1 has every channel on: three deliveries per message.
MESSAGE = {"sender": 1, "recipient": 1, "body": "benchmark"}
# Where the provider-only fan-out sends: the sandbox accepts any address.
ADDRESSES = {"push": "bench-device", "email": "bench@example.com", "sms": "+15550100009"}
sys.path.insert(0, str(ROOT))

from notifier import providers  # noqa: E402  (needs ROOT on the path when run as a script)
from notifier.config import settings  # noqa: E402
from readme_table import write_row  # noqa: E402
from threadline.conf import celery_config  # noqa: E402

bare = Celery("bare")
bare.conf.update(celery_config(os.environ.get("BARE_BROKER_URL", "amqp://localhost//"),
                               ("bare", *(f"bare_{channel}" for channel in CHANNELS))))
bare_api = Flask("bare")


@bare.task(name="bare.fanout")
def fanout(n: int, calls: bool) -> None:
    for channel in CHANNELS:
        if calls:
            provider_call.apply_async((n, channel), queue=f"bare_{channel}")
        else:
            noop.apply_async((n,), queue=f"bare_{channel}")


@bare.task(name="bare.noop")
def noop(n: int) -> None:
    _done(n)


@bare.task(name="bare.provider_call")
def provider_call(n: int, channel: str) -> None:
    providers.deliver(settings(), channel, f"bare-{n}-{channel}", ADDRESSES[channel], "benchmark")
    _done(n)


def _done(n: int) -> None:
    # One short append per task: lines under PIPE_BUF never interleave between processes.
    with open(os.environ["BARE_DONE_FILE"], "a") as done:
        done.write(f"{n} {time.time()}\n")


@bare_api.post("/publish")
def publish():  # type: ignore[no-untyped-def]
    body = request.get_json()
    fanout.apply_async((int(body["n"]), bool(body.get("calls"))))
    return jsonify(accepted=True), 202


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


# Where the CPU goes: processes by a marker in their command line (the broker included).
ROLES = {
    "API": b"api.wsgi", "notifier": b"notifier.worker", "sandbox": b"sandbox.main", "Flower": b"flower",
    "RabbitMQ": b"beam.smp", "bare API": b"workflow:bare_api", "bare worker": b"-A\x00workflow\x00worker",
}


def cpu_by_role() -> dict[str, float]:
    totals = dict.fromkeys(ROLES, 0.0)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            command = _cmdline(int(entry.name))
            role = next((role for role, marker in ROLES.items() if marker in command), None)
            if role is not None:
                totals[role] += cpu_seconds([int(entry.name)])
    return totals


def cpu_split(before: dict[str, float], count: int) -> str:
    """CPU milliseconds per message by role since ``before``, the roles that did any work."""
    after = cpu_by_role()
    spent = {role: 1000 * (after[role] - before[role]) / count for role in ROLES}
    parts = [f"{role} {ms:.1f}" for role, ms in spent.items() if ms >= 0.05]
    return f"{sum(spent.values()):.1f} ms CPU/msg ({', '.join(parts)})"


class Bench:
    def __init__(self, workdir: Path, concurrency: int) -> None:
        from devtools.stack import descendants, poll_until

        self.poll_until, self.descendants = poll_until, descendants
        self.concurrency, self.done_file = concurrency, workdir / "bare-done.txt"
        self.serial = 0
        # Whatever started is stopped, also when a later start fails.
        self.cleanup = contextlib.ExitStack()
        try:
            self._start(workdir)
        except BaseException:
            self.cleanup.close()
            raise

    def _start(self, workdir: Path) -> None:
        from devtools.private_stack import free_port, private_vhost, stack_env
        from devtools.stack import Stack

        broker_url = self.cleanup.enter_context(private_vhost("threadline-bench"))
        self.stack = Stack(stack_env(workdir, broker_url), workdir / "run")
        self.done_file.touch()
        self.bare_port = free_port()
        self.bare_url = f"http://127.0.0.1:{self.bare_port}/publish"
        env = {**self.stack.env, "BARE_BROKER_URL": self.stack.env["BROKER_URL"], "BARE_DONE_FILE": str(self.done_file),
               "API_PORT": str(self.bare_port), "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
        # Like the notifier, the bare worker stores no results: nobody reads them.
        env.pop("RESULT_BACKEND", None)
        bare.conf.broker_url = env["BARE_BROKER_URL"]
        self.bare_worker = self._popen(
            [sys.executable, "-m", "celery", "-A", "workflow", "worker", "-Q", "bare,bare_push,bare_email,bare_sms",
             "-n", "bare@%h", "-E", "-c", "8", "--loglevel", "INFO", "--logfile", str(workdir / "bare-worker.log")],
            env)
        self.bare_gunicorn = self._popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "services/api/gunicorn.conf.py"), "workflow:bare_api"],
            {**env, "LOG_DIR": str(workdir / "bare-logs")})
        self.cleanup.callback(self.stack.stop)
        self.stack.start(timeout=180)
        self.sandbox = f"http://127.0.0.1:{self.stack.env['SANDBOX_HTTP_PORT']}/admin/deliveries"

    def _popen(self, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        process = subprocess.Popen(command, cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)

        def stop() -> None:
            os.killpg(process.pid, 15)
            process.wait(timeout=60)
        self.cleanup.callback(stop)
        return process

    def close(self) -> None:
        self.cleanup.close()

    def _post_all(self, url: str, bodies: list[dict], headers: Callable[[int], dict]) -> list[tuple[float, dict]]:
        local = threading.local()

        def post(index: int) -> tuple[float, dict]:
            session = getattr(local, "session", None) or requests.Session()
            local.session = session
            started = time.time()
            response = session.post(url, json=bodies[index], headers=headers(index), timeout=60)
            assert response.status_code == 202, response.text
            return started, response.json()

        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(post, range(len(bodies))))

    def workflow(self, count: int) -> tuple[float, list[float]]:
        """Messages per second and per-message latencies, POST until all 3 deliveries recorded."""
        since = time.time()
        tag = uuid.uuid4().hex[:8]
        sent = self._post_all(f"{self.stack.api_url}/api/message/", [MESSAGE] * count,
                              lambda i: {"X-Request-ID": f"bench-{tag}-{i}"})
        starts = {reply["request_id"]: started for started, reply in sent}
        finished: dict[str, float] = {}
        counted: set[tuple[str, str]] = set()
        cursor = since

        def all_delivered() -> bool:
            nonlocal cursor
            # Only what arrived since the last poll: fetching the whole run every second
            # would spend, in the sandbox and here, the CPU the run is measured on.
            for delivery in requests.get(self.sandbox, params={"since": cursor}, timeout=30).json():
                cursor = max(cursor, delivery["at"])
                request_id = delivery["request_id"]  # the provider-only fan-out's carry none
                if request_id in starts and (request_id, delivery["channel"]) not in counted:
                    counted.add((request_id, delivery["channel"]))
                    finished[request_id] = max(finished.get(request_id, 0), delivery["at"])
            return len(counted) == 3 * count

        self.poll_until(all_delivered, "every delivery of the run", timeout=1800, interval=1)
        return count / (max(finished.values()) - min(starts.values())), [finished[m] - starts[m] for m in starts]

    def bare_fanout(self, count: int, calls: bool = False) -> tuple[float, list[float]]:
        """The same as ``workflow`` through the bare endpoint: POST until all 3 tasks ran;
        ``calls``: each task makes its channel's provider call."""
        first = self.serial
        self.serial += count
        bodies = [{"n": n, "calls": calls} for n in range(first, first + count)]
        sent = self._post_all(self.bare_url, bodies, lambda i: {})
        starts = {first + index: started for index, (started, _) in enumerate(sent)}
        finished: dict[int, list[float]] = {}

        def all_done() -> bool:
            finished.clear()
            for line in self.done_file.read_text().splitlines():
                n, at = line.split()
                if first <= int(n) < first + count:
                    finished.setdefault(int(n), []).append(float(at))
            return sum(len(v) for v in finished.values()) == 3 * count

        self.poll_until(all_done, "every bare task", timeout=1800, interval=0.5)
        last = {n: max(ats) for n, ats in finished.items()}
        return count / (max(last.values()) - min(starts.values())), [last[n] - starts[n] for n in starts]

    def posts(self, url: str, count: int, pids: list[int], body: dict) -> tuple[float, float]:
        """Requests per second and server CPU milliseconds per request."""
        cpu, began = cpu_seconds(pids), time.time()
        self._post_all(url, [body] * count, lambda i: {})
        elapsed = time.time() - began
        return count / elapsed, 1000 * (cpu_seconds(pids) - cpu) / count

    def api_pids(self) -> list[int]:
        return [pid for pid in self.stack.processes() if ROLES["API"] in _cmdline(pid)]

    def bare_pids(self) -> list[int]:
        return [self.bare_gunicorn.pid, *self.descendants(self.bare_gunicorn.pid)]

    @contextlib.contextmanager
    def consumers_paused(self) -> Iterator[None]:
        """Measure an endpoint alone: its messages wait in their queue until the block ends."""
        paused = {"notifications": f"notifier@{socket.gethostname()}", "bare": f"bare@{socket.gethostname()}"}
        for queue, worker in paused.items():
            bare.control.cancel_consumer(queue, destination=[worker], reply=True)
        try:
            yield
        finally:
            for queue, worker in paused.items():
                bare.control.add_consumer(queue, destination=[worker], reply=True)

    def drain(self) -> None:
        """Wait until both stacks did everything they accepted (POST runs leave work)."""
        def done() -> tuple[int, int]:
            return len(requests.get(self.sandbox, timeout=30).json()), len(self.done_file.read_bytes().splitlines())

        def quiet() -> bool:
            before = done()
            time.sleep(2)
            return done() == before
        self.poll_until(quiet, "the stack drained", timeout=1800, interval=0)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--posts", type=int, default=600)
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="threadline-bench-") as tmp:
        bench = Bench(Path(tmp), args.concurrency)
        try:
            ratios, rows = run_pairs(bench, args)
        finally:
            bench.close()
    report(args, ratios, rows)


# The end-to-end runs of a pair: the workflow, the provider-only and the no-op fan-out.
FLOWS: dict[str, Callable[[Bench, int], tuple[float, list[float]]]] = {
    "workflow": Bench.workflow,
    "providers only": lambda bench, count: bench.bare_fanout(count, calls=True),
    "bare fan-out": Bench.bare_fanout,
}
RATIOS = {  # name: (numerator, denominator)
    "workflow / bare fan-out": ("workflow", "bare fan-out"),
    "providers only / bare fan-out": ("providers only", "bare fan-out"),
    "workflow / providers only": ("workflow", "providers only"),
    "POST / bare publish": ("POST", "bare publish"),
}
TARGETS = {"workflow / bare fan-out": 0.8, "POST / bare publish": 0.6}


def run_pairs(bench: Bench, args: argparse.Namespace) -> tuple[dict[str, list[float]], list[str]]:
    ratios: dict[str, list[float]] = {name: [] for name in RATIOS}
    rows = []
    api_url = f"{bench.stack.api_url}/api/message/"
    for pair in range(args.pairs):
        runs, cpu = {}, {}
        for kind in list(FLOWS) if pair % 2 == 0 else reversed(FLOWS):
            before = cpu_by_role()
            runs[kind] = FLOWS[kind](bench, args.messages)
            cpu[kind] = cpu_split(before, args.messages)
        for kind in (("POST", "bare publish") if pair % 2 == 0 else ("bare publish", "POST")):
            with bench.consumers_paused():
                if kind == "POST":
                    runs[kind] = bench.posts(api_url, args.posts, bench.api_pids(), MESSAGE)
                else:
                    runs[kind] = bench.posts(bench.bare_url, args.posts, bench.bare_pids(), {"n": -1})
            bench.drain()
        for name, (top, bottom) in RATIOS.items():
            ratios[name].append(runs[top][0] / runs[bottom][0])
        flows = " | ".join(
            f"{kind} {runs[kind][0]:6.1f} msg/s p50 {percentile(runs[kind][1], .5):.3f} s "
            f"p99 {percentile(runs[kind][1], .99):.3f} s" for kind in FLOWS)
        posts = " | ".join(f"{kind} {runs[kind][0]:6.1f} req/s {runs[kind][1]:.2f} ms CPU/req"
                           for kind in ("POST", "bare publish"))
        row = f"pair {pair + 1}: {flows} | {posts}"
        print(row, flush=True)
        print("  CPU: " + "; ".join(f"{kind} {cpu[kind]}" for kind in FLOWS), flush=True)
        rows.append(row)
    return ratios, rows


def report(args: argparse.Namespace, ratios: dict[str, list[float]], rows: list[str]) -> None:
    medians = {name: statistics.median(values) for name, values in ratios.items()}
    for name, median in medians.items():
        target = f" (target >= {TARGETS[name]})" if name in TARGETS else ""
        print(f"median {name}: {median:.2f}{target}")
    # A table cell: no pipes, single spaces.
    last = " ".join(rows[-1].split(": ", 1)[1].replace("|", ";").split())
    summary = ", ".join(f"{name} {median:.2f}" for name, median in medians.items())
    result = f"median ratios over {args.pairs} pairs: {summary}; last pair: {last}"
    command = f".venv/bin/python bench/workflow.py --messages {args.messages} --pairs {args.pairs}"
    write_row("notification workflow", command, result)


if __name__ == "__main__":
    main(sys.argv[1:])
