"""What threadline costs a Celery worker: traced/plain ratios on a real RabbitMQ.

    .venv/bin/python bench/tracing_overhead.py [--pairs 6] [--tasks 10000] [--parents 3000]
        [--against traced|floor|control]

For each pair it starts a plain and a traced worker (prefork, 2 processes, in its own RabbitMQ
vhost) and runs them, back to back and in alternating order, through two scenarios: (a) N no-op
tasks that each log one line; (b) parents that each publish 3 children, every task logging one
line. The messages are published first (in a separate process, so threadline's publish hook
cannot touch the plain run), then the worker starts consuming: drain throughput is tasks /
(last task line - start of consumption), worker CPU is read from /proc for the worker and its
pool children. It prints the median pair ratios and writes them into bench/README.md. The
traced worker logs through threadline without the redaction filter, whose cost per record is
printed on its own (the issue asks for it separately; add it per record to the traced figures
for a worker that redacts).

Each pair gets new worker processes: a worker keeps the speed it starts with (two identical
plain workers differ by a few percent of CPU per task for their whole life), so pairs of the
same two processes would not be independent samples.

``--against floor`` puts in the traced worker's place plain Celery that carries what threadline
carries and does nothing else: task IDs ``<request_id>_<uuid4>`` and log lines with the three ID
fields, written as constants of threadline's lengths. Its ratios are the part of the cost that
comes with those bytes, whatever the implementation. ``--against control`` puts a second plain
worker there: its ratios show how far from 1.0 the method itself strays.

This file is also the worker's app module (``-A tracing_overhead``); BENCH_MODE picks it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import logging
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import timeit
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery import Celery, signals
from threadline.ids import make_task_id

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODE = os.environ.get("BENCH_MODE", "plain")
LINE_FORMAT = "%(asctime)s %(levelname)-7s %(process)-6d %(name)s: %(message)s"
# The floor's request ID: the length of the IDs threadline generates.
FLOOR_RID = uuid.uuid4().hex
# No-op tasks each new worker runs before it is measured.
WARM_UP = 500
log = logging.getLogger("bench")


def make_app(mode: str) -> Celery:
    app = Celery("bench")
    app.conf.update(
        broker_url=os.environ.get("BENCH_BROKER", "amqp://guest:guest@localhost:5672//"),
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_default_queue=f"bench.{mode}",
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    if mode == "traced":
        from threadline import propagation

        propagation.install(app)
    return app


app = make_app(MODE)


@app.task(name="bench.noop")
def noop(i: int) -> None:
    log.info("noop %s", i)


@app.task(name="bench.parent")
def parent(i: int) -> None:
    log.info("parent %s", i)
    for k in range(3):
        if MODE == "floor":
            child.apply_async((i, k), task_id=make_task_id(FLOOR_RID))
        else:
            child.delay(i, k)


@app.task(name="bench.child")
def child(i: int, k: int) -> None:
    log.info("child %s.%s", i, k)


@signals.setup_logging.connect(weak=False)
def _setup_logging(**_: Any) -> None:
    # Both modes write the same Celery lines to a file; the traced one through threadline.
    path = Path(os.environ["BENCH_LOG"])
    if MODE == "traced":
        from threadline import logs

        # Tracing alone: the redaction filter's cost is measured per record on its own.
        logs.configure(path.stem, fmt="text", log_dir=str(path.parent), redact=False)
        return
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(floor_format() if MODE == "floor" else LINE_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in ("celery", "celery.task", "celery.redirected"):
        logging.getLogger(name).handlers.clear()


def floor_format() -> str:
    # threadline's text format with its three fields as constants: the same bytes per line,
    # no work per record.
    from threadline.logs import TEXT_FORMAT

    fields = {"request_id": FLOOR_RID, "task_id": make_task_id(FLOOR_RID), "parent_id": "-"}
    line = TEXT_FORMAT
    for name, value in fields.items():
        line = line.replace(f"%({name})s", value)
    return line


# ---------------------------------------------------------------- publishing (own process)


def publish(scenario: str, count: int) -> float:
    """Publish the scenario's messages; seconds spent publishing."""
    task = noop if scenario == "noop" else parent
    task.delay(-1)  # open the connection and declare the queue outside the timing
    started = time.perf_counter()
    if MODE == "traced":
        from threadline.context import request_context

        with request_context():
            for i in range(count - 1):
                task.delay(i)
    elif MODE == "floor":
        for i in range(count - 1):
            task.apply_async((i,), task_id=make_task_id(FLOOR_RID))
    else:
        for i in range(count - 1):
            task.delay(i)
    return time.perf_counter() - started


# ---------------------------------------------------------------- the driver


class Worker:
    """A `celery worker` subprocess that consumes its queue only when told to."""

    def __init__(self, mode: str, broker: str, log_dir: Path) -> None:
        self.mode, self.log = mode, log_dir / f"bench-{mode}.log"
        env = {**os.environ, "BENCH_MODE": mode, "BENCH_BROKER": broker, "BENCH_LOG": str(self.log)}
        env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
        self.hostname = f"{mode}-{uuid.uuid4().hex[:6]}@bench"
        self.log.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tracing_overhead", "worker", "-P", "prefork", "-c", "2",
             "-Q", f"bench.{mode}.idle", "-n", self.hostname, "-l", "INFO", "--without-gossip",
             "--without-mingle", "--without-heartbeat"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: self.log.exists() and b" ready." in self.log.read_bytes(), f"{mode} worker ready", 120)

    def cpu_seconds(self) -> float:
        pids = [self.proc.pid, *children(self.proc.pid)]
        ticks = 0
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        pids = [self.proc.pid, *children(self.proc.pid)]
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
        for pid in pids[1:]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def wait_for(check: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def run_once(driver: Celery, worker: Worker, scenario: str, count: int) -> dict[str, float]:
    """Publish, then let the worker drain; throughput, CPU per task and publish rate."""
    out = subprocess.run(
        [sys.executable, __file__, "--publish", scenario, str(count)],
        env={**os.environ, "BENCH_MODE": worker.mode, "BENCH_BROKER": driver.conf.broker_url},
        check=True, capture_output=True, text=True,
    )
    publish_seconds = float(out.stdout.strip())
    tasks = count * (4 if scenario == "fanout" else 1)
    marker = b"] succeeded in "
    offset = worker.log.stat().st_size
    cpu0, start = worker.cpu_seconds(), time.time()
    driver.control.add_consumer(f"bench.{worker.mode}", destination=[worker.hostname], reply=True)
    seen, tail = 0, b""
    deadline = time.monotonic() + 900
    with worker.log.open("rb") as handle:
        handle.seek(offset)
        while seen < tasks:
            chunk = handle.read()
            if chunk:
                # A read may end inside a marker: count it once the rest arrived.
                seen += (tail[-len(marker) + 1:] + chunk).count(marker)
                tail = (tail + chunk)[-20000:]
            elif time.monotonic() > deadline:
                raise TimeoutError(f"{scenario}: {seen}/{tasks} tasks after 900 s")
            else:
                time.sleep(0.05)
    end = last_timestamp(tail)
    cpu = worker.cpu_seconds() - cpu0
    driver.control.cancel_consumer(f"bench.{worker.mode}", destination=[worker.hostname], reply=True)
    return {"throughput": tasks / (end - start), "cpu_per_task": cpu / tasks, "publish_rate": count / publish_seconds}


def last_timestamp(tail: bytes) -> float:
    # Every line starts with its time: logging's asctime ("2025-01-01 12:00:00,123", local) or
    # threadline's ("2025-01-01T12:00:00.123+00:00"); pool processes append in any order, so
    # take the latest of the last lines.
    stamps = []
    for line in tail.decode("utf-8", "replace").splitlines()[-50:]:
        try:
            stamps.append(datetime.datetime.fromisoformat(line.split(" ", 1)[0] if "T" in line[:11] else line[:23])
                          .timestamp())
        except ValueError:
            continue
    return max(stamps)


def redaction_cost() -> dict[str, float]:
    """Microseconds per record of the redaction filter and of the trace filter."""
    from threadline.logs import TraceFilter
    from threadline.redaction import Redactor

    redactor, tracing = Redactor(), TraceFilter()

    def record(msg: str, args: tuple[Any, ...]) -> logging.LogRecord:
        return logging.LogRecord("celery.app.trace", logging.INFO, __file__, 1, msg, args, None)

    plain_msg = ("Task %s[%s] succeeded in %ss: %r", ("bench.noop", str(uuid.uuid4()), 0.0012, None))
    pii_msg = ("Sent to %s at %s", ("jane.doe@example.com", "+44 20 7946 0958"))
    n = 20000
    cost = {}
    for name, (msg, args) in (("redact_plain_us", plain_msg), ("redact_pii_us", pii_msg)):
        cost[name] = per_record_us(redactor.record, [record(msg, args) for _ in range(n)])
    cost["trace_filter_us"] = per_record_us(tracing.filter, [record(*plain_msg) for _ in range(n)])
    return cost


def per_record_us(step: Callable[[logging.LogRecord], object], records: list[logging.LogRecord]) -> float:
    # Fresh records each call: the trace filter sets the IDs of the record it sees once.
    it = iter(records)
    return timeit.timeit(lambda: step(next(it)), number=len(records)) / len(records) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--parents", type=int, default=3_000)
    parser.add_argument("--against", choices=("traced", "floor", "control"), default="traced",
                        help="what to compare with plain Celery (floor: threadline's bytes and no code; "
                        "control: plain Celery again)")
    parser.add_argument("--publish", nargs=2, metavar=("SCENARIO", "COUNT"), help=argparse.SUPPRESS)
    opts = parser.parse_args()
    # A plain `kill` must still stop the workers and remove the vhost (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if opts.publish:
        print(publish(opts.publish[0], int(opts.publish[1])))
        return
    if opts.pairs < 6 or opts.tasks < 10_000 or opts.parents < 3_000:
        parser.error("the method needs --pairs >= 6, --tasks >= 10000, --parents >= 3000")
    sys.path.insert(0, str(ROOT))
    from devtools import rabbit

    vhost = f"threadline-bench-{uuid.uuid4().hex[:8]}"
    rabbit.add_vhost(vhost)
    log_dir = Path(os.environ.get("BENCH_LOG_DIR") or ROOT / "logs" / "bench")
    log_dir.mkdir(parents=True, exist_ok=True)
    broker = f"amqp://guest:guest@localhost:5672/{vhost}"
    try:
        driver = make_app("driver")
        driver.conf.broker_url = broker
        results = run_pairs(driver, broker, log_dir, opts)
    finally:
        rabbit.delete_vhost(vhost)
    report(results, redaction_cost() if opts.against == "traced" else {}, opts)


def run_pairs(
    driver: Celery, broker: str, log_dir: Path, opts: argparse.Namespace
) -> dict[str, list[dict[str, float]]]:
    ratios: dict[str, list[dict[str, float]]] = {"noop": [], "fanout": []}
    other = opts.against
    for pair in range(opts.pairs):
        order = ("plain", other) if pair % 2 == 0 else (other, "plain")
        workers: dict[str, Worker] = {}
        try:
            for mode in order:
                workers[mode] = Worker(mode, broker, log_dir)
                run_once(driver, workers[mode], "noop", WARM_UP)  # first tasks pay one-time costs
            for scenario, count in (("noop", opts.tasks), ("fanout", opts.parents)):
                runs = {mode: run_once(driver, workers[mode], scenario, count) for mode in order}
                ratio = {key: runs[other][key] / runs["plain"][key] for key in runs["plain"]}
                ratios[scenario].append(ratio)
                print(f"pair {pair + 1} {scenario:6}", " ".join(f"{k}={v:.3f}" for k, v in ratio.items()),
                      f"(plain {runs['plain']['throughput']:.0f}/s, {other} {runs[other]['throughput']:.0f}/s)",
                      flush=True)
        finally:
            for worker in workers.values():
                worker.stop()
    return ratios


def report(ratios: dict[str, list[dict[str, float]]], cost: dict[str, float], opts: argparse.Namespace) -> None:
    medians = {
        scenario: {key: statistics.median(r[key] for r in rows) for key in rows[0]} for scenario, rows in ratios.items()
    }
    print(json.dumps({"pairs": opts.pairs, f"median_{opts.against}_over_plain": medians, "filters": cost}, indent=2))
    cells = []
    for scenario, m in medians.items():
        # CPU per task: plain/other, so that like the others 1.0 means free, lower costs more.
        cells.append(f"{scenario}: thr {m['throughput']:.3f}, cpu {1 / m['cpu_per_task']:.3f}, "
                     f"pub {m['publish_rate']:.3f}")
    figures = "; ".join(cells)
    if cost:
        figures += (
            f"; redaction {cost['redact_plain_us']:.1f} us/record ({cost['redact_pii_us']:.1f} with PII), "
            f"trace filter {cost['trace_filter_us']:.1f} us/record"
        )
    name, against = "tracing_overhead.py", ""
    if opts.against != "traced":
        name, against = f"tracing_overhead.py, {opts.against}", f" --against {opts.against}"
    command = (f"`.venv/bin/python bench/tracing_overhead.py --pairs {opts.pairs} --tasks {opts.tasks} "
               f"--parents {opts.parents}{against}`")
    write_row(name, command, figures)


def write_row(name: str, command: str, figures: str) -> None:
    readme = HERE / "README.md"
    header = (
        "# Benchmarks\n\nEach benchmark prints its figures and writes its row here.\n\n"
        "| benchmark | command | figures (median traced/plain; 1.0 = free) | measured |\n|---|---|---|---|\n"
    )
    text = readme.read_text() if readme.exists() else header
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    row = f"| {name} | {command} | {figures} | {machine}, {datetime.date.today().isoformat()} |"
    lines = [row if line.startswith(f"| {name} ") else line for line in text.splitlines()]
    if row not in lines:
        lines.append(row)
    readme.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
