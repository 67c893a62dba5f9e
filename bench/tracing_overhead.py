"""What tracing costs a Celery worker: threadline and its peers against plain Celery, side by side.

    .venv/bin/python bench/tracing_overhead.py [--pairs 8] [--runs 2] [--tasks 10000]
        [--parents 3000] [--publish 5000] [--peers traced,redacted,asgi,otel]

Each run starts a RabbitMQ node of its own, so that the node's CPU time counts only the
benchmark's messages. Each pair starts a new plain worker and a new worker for each peer
(prefork, 2 processes; see overhead_app for how each peer sets itself up), each with a
publisher process set up like the mode's publishers, and runs them through two scenarios: (a)
N no-op tasks that each log one line; (b) parents that each publish 3 children, every task
logging one line. A scenario runs in as many rounds as there are workers, each round in
another order (a Williams square, mirrored in every other pair), so that every worker drains in
every place of the order once per pair and, over two pairs, right after every other worker
equally often: in each round a worker's publisher publishes its share of the messages, then
the worker consumes them. Over a pair's rounds: drain throughput is tasks / the time from the
start of consumption to the last task line, worker CPU per task is read from /proc for the
worker and its pool processes, and the broker's CPU per message is the node's CPU time from
the first publish to the last task, over the tasks. After a scenario's rounds comes its
publish duel: the publishers take turns in blocks of 100 messages (about 25 ms each), in the
pair's orders, to queues nobody consumes; the publish rate is messages per second of their
publishing loops. It prints each peer's median ratios to plain over the pairs of each
run and of all runs, and writes one row per peer (all runs) into bench/README.md, with the
redaction filter's cost per record.

Why rounds: the machine's speed drifts over seconds (two plain workers of one pair measured
1.18 apart in one scenario and 0.92 in the next), and a worker that drained its share in one
stretch of time would carry that stretch's speed into its ratio. Why a balanced order: merely
rotated, the order kept each worker right after the same one, in whose wake it published.
Why a duel of short blocks for the publish rate: timed on its shares in the rounds, a fan-out
publisher published for about 0.6 s per pair, in stretches minutes apart, and its pair ratios
spread with a standard deviation of up to 0.12; turns of 25 ms put every publisher in the same
moments of the machine. Why new processes per pair: so that a process's own luck (its memory
layout) is sampled too.
Peers beyond the default: ``control`` (plain again: how far from 1.0 the method strays) and
``floor`` (threadline's bytes, none of its code).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery import Celery
from readme_table import write_row

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_PEERS = ("traced", "redacted", "asgi", "otel")
# No-op tasks each new worker runs before it is measured: the first tasks pay one-time costs.
WARM_UP = 500
# Messages a publisher publishes in one turn of the publish duel: about 25 ms, short enough
# that the publishers' turns see the same machine.
PUBLISH_BLOCK = 100
# The ratios per peer and pair, each other/plain (the rows print CPU and broker as plain/other,
# so that there too 1.0 means free and lower costs more).
KEYS = ("throughput", "cpu_per_task", "publish_rate", "broker_per_task")


class Worker:
    """A `celery worker` subprocess that consumes its queue only when told to."""

    def __init__(self, mode: str, broker: str, log_dir: Path) -> None:
        self.mode, self.log = mode, log_dir / f"bench-{mode}.log"
        env = {**os.environ, "BENCH_MODE": mode, "BENCH_BROKER": broker, "BENCH_LOG": str(self.log)}
        env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
        self.hostname = f"{mode}-{uuid.uuid4().hex[:6]}@bench"
        self.log.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "overhead_app", "worker", "-P", "prefork", "-c", "2",
             "-Q", f"bench.{mode}.idle", "-n", self.hostname, "-l", "INFO", "--without-gossip",
             "--without-mingle", "--without-heartbeat"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        # Its publisher, set up as the mode's publishers are, kept for the pair's rounds.
        self.publisher = subprocess.Popen([sys.executable, __file__, "--publisher"], env=env, text=True,
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            wait_for(self._ready, f"{mode} worker ready", 120)
        except BaseException:  # a worker that never got ready, or the bench stopped meanwhile
            self.stop()
            raise

    def publish(self, scenario: str, count: int, queue: str) -> float:
        """Seconds the publisher took for ``count`` messages of ``scenario`` (but the first)."""
        assert self.publisher.stdin is not None and self.publisher.stdout is not None
        self.publisher.stdin.write(f"{scenario} {count} {queue}\n")
        self.publisher.stdin.flush()
        answer = self.publisher.stdout.readline()
        if not answer:
            raise RuntimeError(f"the {self.mode} publisher exited ({self.publisher.wait()})")
        return float(answer)

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the {self.mode} worker exited ({self.proc.returncode}): are bench/requirements.txt's "
                               "packages installed? (make bench installs them)")
        return self.log.exists() and b" ready." in self.log.read_bytes()

    def stop(self) -> None:
        self.publisher.kill()
        self.publisher.wait(30)
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


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user and system) of process ``pid`` and all its descendants."""
    ticks, pending = 0, [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
            pending.extend(children(current))
    return ticks / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        return [int(p) for p in path.read_text().split()]
    return []


def wait_for(check: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def run_once(driver: Celery, broker_pid: int, worker: Worker, scenario: str, count: int) -> Counter[str]:
    """Publish, then let the worker drain; the sums its drain figures are made of (see ``figures``)."""
    tasks = count * (4 if scenario == "fanout" else 1)
    broker0 = tree_cpu_seconds(broker_pid)
    worker.publish(scenario, count, f"bench.{worker.mode}")
    marker = b"] succeeded in "
    offset = worker.log.stat().st_size
    cpu0, start = tree_cpu_seconds(worker.proc.pid), time.time()
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
    cpu = tree_cpu_seconds(worker.proc.pid) - cpu0
    broker = tree_cpu_seconds(broker_pid) - broker0
    driver.control.cancel_consumer(f"bench.{worker.mode}", destination=[worker.hostname], reply=True)
    return Counter({"tasks": tasks, "seconds": end - start, "cpu": cpu, "broker": broker})


def publish_duel(driver: Celery, workers: dict[str, Worker], orders: list[list[str]], scenario: str,
                 count: int) -> dict[str, Counter[str]]:
    """Each publisher publishes ``count`` messages of ``scenario`` in blocks of PUBLISH_BLOCK,
    the publishers taking turns block by block in the pair's orders, to queues nobody consumes
    (purged after each turn of the publishers); the sums the publish rates are made of."""
    sums: dict[str, Counter[str]] = {mode: Counter() for mode in workers}
    with driver.connection_for_write() as connection:
        channel = connection.default_channel
        for _ in range(count // (PUBLISH_BLOCK * len(orders))):
            for order in orders:
                for mode in order:
                    sums[mode]["publish_seconds"] += workers[mode].publish(scenario, PUBLISH_BLOCK, f"bench.{mode}.pub")
                    sums[mode]["published"] += PUBLISH_BLOCK - 1
                for mode in order:
                    channel.queue_purge(f"bench.{mode}.pub")
    return sums


def figures(sums: Counter[str]) -> dict[str, float]:
    """A worker's figures over its rounds: each a total over a total, so every task weighs the same."""
    tasks = sums["tasks"]
    return {"throughput": tasks / sums["seconds"], "cpu_per_task": sums["cpu"] / tasks,
            "publish_rate": sums["published"] / sums["publish_seconds"], "broker_per_task": sums["broker"] / tasks}


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
    sys.path.insert(0, str(ROOT))
    from overhead_app import MODES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8, help="pairs per run")
    parser.add_argument("--runs", type=int, default=2, help="runs, each on a new RabbitMQ node")
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--parents", type=int, default=3_000)
    parser.add_argument("--publish", type=int, default=5_000, help="messages per publisher in each publish duel")
    parser.add_argument("--peers", default=",".join(DEFAULT_PEERS),
                        help=f"comma-separated, each compared with plain Celery: {', '.join(MODES[1:])}")
    parser.add_argument("--publisher", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    # A plain `kill` must still stop the workers and the node (the finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if opts.publisher:
        from overhead_app import serve_publishing

        serve_publishing(sys.stdin, sys.stdout)
        return
    opts.peers = opts.peers.split(",")
    if unknown := set(opts.peers) - set(MODES[1:]):
        parser.error(f"unknown peers: {', '.join(sorted(unknown))}")
    if opts.pairs < 6 or opts.runs < 1 or opts.tasks < 10_000 or opts.parents < 3_000 or opts.publish < 5_000:
        parser.error("the method needs --pairs >= 6, --runs >= 1, --tasks >= 10000, --parents >= 3000, "
                     "--publish >= 5000")
    log_dir = Path(os.environ.get("BENCH_LOG_DIR") or ROOT / "logs" / "bench")
    log_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for run in range(opts.runs):
        print(f"run {run + 1} of {opts.runs}", flush=True)
        runs.append(one_run(log_dir, opts))
    report(runs, redaction_cost(), opts)


def one_run(log_dir: Path, opts: argparse.Namespace) -> Results:
    """The pairs of one run, on a RabbitMQ node of its own."""
    from devtools.private_rabbit import PrivateRabbit

    base = Path(tempfile.mkdtemp(prefix="threadline-bench-"))
    node = PrivateRabbit(base / "rabbit")
    # Erlang's schedulers spin while they wait for work, which /proc counts as CPU time; without
    # spinning the node's CPU time is the work the messages cost it.
    node.env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = "+sbwt none +sbwtdcpu none +sbwtdio none"
    try:
        node.start()
        assert node.process is not None
        driver = Celery("driver", broker=node.url)
        return run_pairs(driver, node.process.pid, node.url, log_dir, opts)
    finally:
        node.stop()
        shutil.rmtree(base, ignore_errors=True)


Results = dict[str, dict[str, list[dict[str, float]]]]  # peer -> scenario -> one dict per pair
Medians = dict[str, dict[str, dict[str, float]]]  # peer -> scenario -> key -> median


def run_pairs(driver: Celery, broker_pid: int, broker: str, log_dir: Path, opts: argparse.Namespace) -> Results:
    modes = ["plain", *opts.peers]
    ratios: Results = {peer: {"noop": [], "fanout": []} for peer in opts.peers}
    for pair in range(opts.pairs):
        workers: dict[str, Worker] = {}
        orders = balanced_orders(modes, pair)
        try:
            for mode in orders[0]:
                workers[mode] = Worker(mode, broker, log_dir)
                run_once(driver, broker_pid, workers[mode], "noop", WARM_UP)
            for scenario, count in (("noop", opts.tasks), ("fanout", opts.parents)):
                sums: dict[str, Counter[str]] = {mode: Counter() for mode in modes}
                # As many rounds as workers, each in another order: each worker drains in each
                # place once, and in every stretch of the pair's time, not in one of its own.
                for order in orders:
                    for mode in order:
                        sums[mode] += run_once(driver, broker_pid, workers[mode], scenario, count // len(modes))
                for mode, published in publish_duel(driver, workers, orders, scenario, opts.publish).items():
                    sums[mode] += published
                runs = {mode: figures(sums[mode]) for mode in modes}
                plain = runs["plain"]
                print(f"pair {pair + 1} {scenario:6} plain {plain['throughput']:.0f}/s, "
                      f"broker {plain['broker_per_task'] * 1e6:.0f} us/msg", flush=True)
                for peer in opts.peers:
                    ratio = {key: runs[peer][key] / plain[key] for key in KEYS}
                    ratio["broker_us"] = runs[peer]["broker_per_task"] * 1e6
                    ratio["plain_broker_us"] = plain["broker_per_task"] * 1e6
                    ratios[peer][scenario].append(ratio)
                    print(f"    {peer:9}", " ".join(f"{k}={ratio[k]:.3f}" for k in KEYS),
                          f"({runs[peer]['throughput']:.0f}/s, broker {ratio['broker_us']:.0f} us/msg)", flush=True)
        finally:
            for worker in workers.values():
                worker.stop()
    return ratios


def balanced_orders(modes: list[str], pair: int) -> list[list[str]]:
    """A pair's orders of the rounds: a Williams square, mirrored in every other pair. Every
    worker takes every place once per pair and, over two pairs, follows every other worker
    equally often, so no worker always drains or publishes right after the same one (the
    slowest, say)."""
    n = len(modes)
    first = [0] + [(i + 1) // 2 if i % 2 else n - i // 2 for i in range(1, n)]  # 0, 1, n-1, 2, n-2, ...
    orders = [[modes[(place + shift) % n] for place in first] for shift in range(n)]
    return orders if pair % 2 == 0 else [order[::-1] for order in orders]


def medians_of(ratios: Results) -> Medians:
    return {
        peer: {scenario: {key: statistics.median(r[key] for r in rows) for key in rows[0]}
               for scenario, rows in by_scenario.items()}
        for peer, by_scenario in ratios.items()
    }


def report(runs: list[Results], cost: dict[str, float], opts: argparse.Namespace) -> None:
    """Medians of each run and over the pairs of all runs, printed; the latter as rows."""
    pooled: Results = {peer: {scenario: [r for run in runs for r in run[peer][scenario]] for scenario in by_scenario}
                       for peer, by_scenario in runs[0].items()}
    medians = medians_of(pooled)
    print(json.dumps({"pairs": opts.pairs * opts.runs, "median_over_plain": medians,
                      "each_run": [medians_of(run) for run in runs], "filters_us_per_record": cost}, indent=2))
    write_rows(medians, cost, opts)


def write_rows(medians: Medians, cost: dict[str, float], opts: argparse.Namespace) -> None:
    """A row per peer in bench/README.md, from the medians over the pairs of all runs."""
    command = (f".venv/bin/python bench/tracing_overhead.py --pairs {opts.pairs} --runs {opts.runs} "
               f"--tasks {opts.tasks} --parents {opts.parents} --publish {opts.publish} --peers {','.join(opts.peers)}")
    for peer, by_scenario in medians.items():
        cells = []
        for scenario, m in by_scenario.items():
            # CPU and broker: plain/other, so that like the others 1.0 means free and lower costs more.
            cells.append(f"{scenario}: thr {m['throughput']:.3f}, cpu {1 / m['cpu_per_task']:.3f}, "
                         f"pub {m['publish_rate']:.3f}, broker {m['plain_broker_us']:.0f} -> "
                         f"{m['broker_us']:.0f} us/msg ({1 / m['broker_per_task']:.3f})")
        runs = f"{opts.runs} runs" if opts.runs > 1 else "1 run"
        figures = f"{opts.runs * opts.pairs} pairs in {runs}; " + "; ".join(cells)
        if peer == "redacted":
            figures += (f"; redaction {cost['redact_plain_us']:.1f} us/record "
                        f"({cost['redact_pii_us']:.1f} with PII)")
        elif peer == "traced":
            figures += f"; trace filter {cost['trace_filter_us']:.1f} us/record"
        write_row(f"tracing_overhead.py: {peer}", command, figures)


if __name__ == "__main__":
    main()
