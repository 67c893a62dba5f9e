"""The monitor's speed: ingest beside Flower, memory, lag, and lookups among 1,000,000 tasks.

    .venv/bin/python bench/monitor.py [--tasks 25000] [--lookup-requests 250000] [--skip-postgres]

(a) Ingest: Flower (keeping events in memory) and the monitor's consumer (committing them to
SQLite) both run on a private vhost and are stopped (SIGSTOP) while one burst of task events
(sent, received, started, succeeded per task) is published, shaped as Celery sends them: each
task-sent alone, a worker's events in lists of 24; both are then resumed at the same
moment and timed until each has processed every event: Flower by its own /metrics counter, the
monitor by its committed-events counter. A second burst of the same size follows; the resident
memory of each process after each burst shows whether it grows with the tasks stored.
(b) Lag: events of 500 tasks per second (2,000 events/s, more than bench/workflow.py's full
rate makes) published for 20 s, with Flower stopped; a poller reads the stored rows every 50 ms; the lag is the time
from a task's last event to its row being readable (poll resolution included).
(c) Lookup: 250,000 requests with 4 tasks each (1,000,000 tasks, 1 % failed) generated into
the monitor's tables on SQLite and on PostgreSQL; the monitor's web process answers GET
/api/traces/<id> for random requests and the failed-only list, timed from a client.
The machine is shared: the figures move with what else runs. Writes its rows to bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from kombu import Connection, Exchange, Producer
from sqlalchemy import text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = HERE / "README.md"
# This script is named after the package it measures: its own folder must not shadow it.
sys.path[:] = [str(ROOT), *(entry for entry in sys.path if Path(entry or ".").resolve() != HERE)]

from monitor import migrate  # noqa: E402
from monitor.config import Settings  # noqa: E402
from monitor.consume import event_queue  # noqa: E402
from monitor.tables import attempts, tasks  # noqa: E402
from monitor.tables import requests as requests_table  # noqa: E402
from threadline.database import make_engine  # noqa: E402

from bench.readme_table import write_row  # noqa: E402
from devtools.private_stack import (  # noqa: E402
    free_port,
    postgres_database,
    private_vhost,
    stack_env,
)
from devtools.stack import poll_until  # noqa: E402

EVENTS = Exchange("celeryev", type="topic")
NAMES = ("notifier.send_notification", "notifier.send_push", "notifier.send_email", "notifier.send_sms")
FLOWER_AUTH = ("bench", "bench-local")


def task_events(task_id: str, name: str, at: float) -> list[dict]:
    worker = "notifier@bench"
    return [
        {"type": "task-sent", "uuid": task_id, "name": name, "queue": "push", "retries": 0, "timestamp": at,
         "hostname": "api@bench", "clock": 1},
        {"type": "task-received", "uuid": task_id, "name": name, "retries": 0, "hostname": worker,
         "timestamp": at + 0.001, "clock": 2},
        {"type": "task-started", "uuid": task_id, "hostname": worker, "timestamp": at + 0.002, "clock": 3},
        {"type": "task-succeeded", "uuid": task_id, "hostname": worker, "runtime": 0.01, "timestamp": at + 0.012,
         "clock": 4},
    ]


def publish(url: str, messages: Iterator[dict | list[dict]]) -> int:
    """Publish event messages as Celery does; return how many events they held."""
    count = 0
    with Connection(url) as connection:
        producer = Producer(connection.channel(), exchange=EVENTS)
        for message in messages:
            key = "task.multi" if isinstance(message, list) else message["type"].replace("-", ".")
            producer.publish(message, routing_key=key, serializer="json")
            count += len(message) if isinstance(message, list) else 1
    return count


def burst(tag: str, tasks_count: int) -> Iterator[dict | list[dict]]:
    """Shaped as Celery sends them: each task-sent alone (from its producer), the worker's events
    in lists of 24, as a prefork worker buffers task events between two turns of its loop."""
    now = time.time()
    for first in range(0, tasks_count, 8):
        group = [task_events(f"{tag}-{n // 4}_{uuid.uuid4()}", NAMES[n % 4], now)
                 for n in range(first, min(first + 8, tasks_count))]
        yield from (events[0] for events in group)
        yield [event for events in group for event in events[1:]]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def flower_events(port: int) -> int:
    metrics = requests.get(f"http://127.0.0.1:{port}/metrics", auth=FLOWER_AUTH, timeout=10).text
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                   if line.startswith("flower_events_total{")))


def monitor_events(engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT coalesce(sum(events), 0) FROM monitor_consumer")).scalar())


@contextmanager
def process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    with open(log, "ab") as out:
        child = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield child
    finally:
        os.kill(child.pid, signal.SIGCONT)
        child.terminate()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()


def run_ingest(tasks_count: int) -> tuple[str, str]:
    with private_vhost("threadline-bench-monitor") as url, tempfile.TemporaryDirectory() as work:
        workdir = Path(work)
        env = stack_env(workdir, url, MONITOR_QUEUE_MAX_LENGTH="10000000")
        # Flower's own event queue drops events older than 5 s; a stopped Flower would lose them.
        (workdir / "flowerconf.py").write_text("event_queue_ttl = 3600\nevent_queue_expires = 3600\n")
        env["PYTHONPATH"] = str(workdir)
        flower_port = free_port()
        engine = make_engine(env["DATABASE_URL"])
        migrate.upgrade(engine)
        with Connection(url) as connection:
            queue = event_queue(_settings(env), connection)
            queue(connection.channel()).declare()
        flower_cmd = [sys.executable, "-m", "celery", "-b", url, "--config", "flowerconf", "flower",
                      f"--port={flower_port}", "--address=127.0.0.1", f"--basic-auth={':'.join(FLOWER_AUTH)}"]
        with process([sys.executable, "-m", "monitor.ingest"], env, workdir / "monitor.log") as monitor:
            with process(flower_cmd, env, workdir / "flower.log") as flower:
                lines, memory_line = compare_with_flower(url, engine, flower, monitor, flower_port, tasks_count)
            # Flower stopped: the lag is the monitor's alone.
            lag = run_lag(url, engine)
        return "; ".join([*lines, memory_line]), lag


def compare_with_flower(url, engine, flower, monitor, flower_port: int, tasks_count: int) -> tuple[list[str], str]:
    """Both consumers, two bursts: the rate of each and the memory after each burst."""
    poll_until(lambda: requests.get(f"http://127.0.0.1:{flower_port}/metrics", auth=FLOWER_AUTH,
                                    timeout=2).ok, "Flower answers", timeout=60)
    poll_until(lambda: monitor_events(engine) >= 0 and _beats(engine), "the monitor beats", timeout=60)
    time.sleep(2)  # Flower's receiver binds its queue once its event loop runs
    lines, memory = [], []
    for round_ in (1, 2):
        rates = consume_round(url, engine, flower, monitor, flower_port, f"ingest{round_}", tasks_count)
        memory.append((rss_mb(flower.pid), rss_mb(monitor.pid)))
        lines.append(f"burst {round_}: {rates['events']:,} events; Flower {rates['flower']:,.0f} ev/s, "
                     f"monitor {rates['monitor']:,.0f} ev/s, ratio {rates['monitor'] / rates['flower']:.2f}")
        print(lines[-1], flush=True)
    memory_line = (f"RSS after {tasks_count:,} / {2 * tasks_count:,} tasks: Flower {memory[0][0]:.0f} / "
                   f"{memory[1][0]:.0f} MB, monitor {memory[0][1]:.0f} / {memory[1][1]:.0f} MB")
    print(memory_line, flush=True)
    return lines, memory_line


def consume_round(url, engine, flower, monitor, flower_port: int, tag: str, tasks_count: int) -> dict[str, float]:
    """Publish one burst while both consumers are stopped, resume both, time each to the end."""
    before_flower, before_monitor = flower_events(flower_port), monitor_events(engine)
    for pid in (flower.pid, monitor.pid):
        os.kill(pid, signal.SIGSTOP)
    published = publish(url, burst(tag, tasks_count))
    start = time.perf_counter()
    for pid in (flower.pid, monitor.pid):
        os.kill(pid, signal.SIGCONT)
    done: dict[str, float] = {}

    def check() -> bool:
        now = time.perf_counter() - start
        if "flower" not in done and flower_events(flower_port) - before_flower >= published:
            done["flower"] = now
        if "monitor" not in done and monitor_events(engine) - before_monitor >= published:
            done["monitor"] = now
        return len(done) == 2

    poll_until(check, "both consumed the burst", timeout=900, interval=0.2)
    return {"events": published, **{name: published / seconds for name, seconds in done.items()}}


def _settings(env: dict[str, str]) -> Settings:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return Settings.from_env()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _beats(engine) -> bool:
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM monitor_consumer")).scalar() > 0


def run_lag(url: str, engine, rate: int = 500, seconds: int = 20) -> str:
    """Tasks at ``rate`` per second; each window of 0.1 s is one request, polled until stored."""
    lags: list[float] = []
    windows: dict[str, int] = {}  # tasks published per window
    stop = threading.Event()

    def publisher() -> None:
        with Connection(url) as connection:
            producer = Producer(connection.channel(), exchange=EVENTS)
            start = time.time()
            for n in range(rate * seconds):
                due = start + n / rate
                while time.time() < due:
                    time.sleep(0.0005)
                window = f"lag-{n // (rate // 10)}"
                sent, *worker = task_events(f"{window}_{uuid.uuid4()}", "notifier.send_push", time.time() - 0.012)
                # As Celery sends them: task-sent alone, the worker's events for it in one list.
                producer.publish(sent, routing_key="task.sent", serializer="json")
                producer.publish(worker, routing_key="task.multi", serializer="json")
                windows[window] = windows.get(window, 0) + 1
        stop.set()

    thread = threading.Thread(target=publisher)
    thread.start()
    seen: set[str] = set()
    done_windows: set[str] = set()
    query = text("SELECT task_id, finished_at FROM monitor_tasks WHERE request_id = :r AND state = 'SUCCESS'")
    deadline = None
    while True:
        now = time.time()
        with engine.connect() as connection:
            # Only windows still missing tasks: the poll must stay faster than what it measures.
            for window in list(windows):
                if window in done_windows:
                    continue
                found = 0
                for task_id, finished_at in connection.execute(query, {"r": window}):
                    found += 1
                    if task_id not in seen:
                        seen.add(task_id)
                        lags.append(now - finished_at)
                if found == rate // 10:
                    done_windows.add(window)
        if stop.is_set():
            deadline = deadline or now + 30
            if len(seen) >= rate * seconds or now > deadline:
                break
        time.sleep(0.05)
    thread.join()
    lags.sort()
    p50, p99 = lags[len(lags) // 2], lags[int(len(lags) * 0.99)]
    line = (f"lag at {rate} tasks/s ({4 * rate:,} events/s) for {seconds} s: p50 {p50 * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms, {len(seen):,}/{rate * seconds:,} stored")
    print(line, flush=True)
    return line


def generate(engine, request_count: int) -> None:
    """request_count requests of 4 tasks (and 4 attempts) each; 1 % of requests have a failure."""
    rng = random.Random(42)
    start = time.time() - 7 * 86400
    chunk = 5000
    with engine.begin() as connection:
        for first in range(0, request_count, chunk):
            request_rows, task_rows, attempt_rows = [], [], []
            for n in range(first, min(first + chunk, request_count)):
                request_id = f"gen-{n:07d}"
                at = start + n * 2.4
                request_rows.append({"request_id": request_id, "method": "POST", "path": "/api/message/",
                                     "status": 202, "duration_ms": 12.0, "started_at": at, "first_seen_at": at,
                                     "last_seen_at": at + 1, "failures": 1 if n % 100 == 0 else 0})
                parent = None
                for k, name in enumerate(NAMES):
                    task_id = f"{request_id}_{uuid.UUID(int=rng.getrandbits(128))}"
                    state = "FAILURE" if k == 3 and n % 100 == 0 else "SUCCESS"
                    task_rows.append({"task_id": task_id, "request_id": request_id, "name": name,
                                      "parent_id": parent, "root_id": None, "queue": "push", "worker": "w@h",
                                      "state": state, "retries": 0, "sent_at": at + 0.01, "received_at": at + 0.02,
                                      "started_at": at + 0.03, "finished_at": at + 0.1, "runtime_ms": 70.0,
                                      "queue_wait_ms": 20.0, "exception": "Boom('x')" if state == "FAILURE" else None,
                                      "traceback": None})
                    attempt_rows.append({"task_id": task_id, "attempt": 1, "state": state, "worker": "w@h",
                                         "sent_at": at + 0.01, "received_at": at + 0.02, "started_at": at + 0.03,
                                         "finished_at": at + 0.1, "runtime_ms": 70.0, "exception": None})
                    parent = parent or task_id
            connection.execute(requests_table.insert(), request_rows)
            connection.execute(tasks.insert(), task_rows)
            connection.execute(attempts.insert(), attempt_rows)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))


def run_lookup(database_url: str, label: str, request_count: int, samples: int = 1000) -> str:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    began = time.perf_counter()
    generate(engine, request_count)
    print(f"{label}: generated {4 * request_count:,} tasks in {time.perf_counter() - began:.0f} s", flush=True)
    with tempfile.TemporaryDirectory() as work, private_vhost("threadline-bench-lookup") as url:
        port = free_port()
        env = stack_env(Path(work), url, DATABASE_URL=database_url, MONITOR_PORT=str(port))
        command = [sys.executable, "-m", "gunicorn", "-c", "services/monitor/gunicorn.conf.py", "monitor.wsgi:app"]
        with process(command, env, Path(work) / "web.log"):
            base = f"http://127.0.0.1:{port}"
            poll_until(lambda: requests.get(f"{base}/api/health", timeout=2).ok, "monitor web", timeout=60)
            session, rng = requests.Session(), random.Random(7)
            trace_ms = _timed(session, [f"{base}/api/traces/gen-{rng.randrange(request_count):07d}"
                                        for _ in range(samples)])
            list_ms = _timed(session, [f"{base}/api/traces?state=FAILURE&limit=50"] * (samples // 5))
            recent_ms = _timed(session, [f"{base}/api/traces?limit=50"] * (samples // 5))
    line = (f"{label}, {4 * request_count:,} tasks: trace p50 {_p(trace_ms, 50):.1f} ms p99 {_p(trace_ms, 99):.1f} ms;"
            f" failed list p50 {_p(list_ms, 50):.1f} p99 {_p(list_ms, 99):.1f} ms;"
            f" recent list p50 {_p(recent_ms, 50):.1f} p99 {_p(recent_ms, 99):.1f} ms")
    print(line, flush=True)
    return line


def _timed(session: requests.Session, urls: list[str]) -> list[float]:
    times = []
    for url in urls:
        began = time.perf_counter()
        response = session.get(url, timeout=30)
        times.append((time.perf_counter() - began) * 1000)
        response.raise_for_status()
    return sorted(times)


def _p(values: list[float], percent: int) -> float:
    return values[min(len(values) - 1, int(len(values) * percent / 100))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=25_000, help="tasks per ingest burst (4 events each)")
    parser.add_argument("--lookup-requests", type=int, default=250_000, help="requests generated (4 tasks each)")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    command = " ".join([".venv/bin/python bench/monitor.py", *sys.argv[1:]])
    ingest, lag = run_ingest(args.tasks)
    write_row("monitor ingest vs Flower", command, ingest)
    write_row("monitor lag", command, lag)
    with tempfile.TemporaryDirectory() as work:
        lookups = [run_lookup(f"sqlite:///{work}/lookup.db", "SQLite", args.lookup_requests)]
    if not args.skip_postgres:
        with postgres_database() as url:
            lookups.append(run_lookup(url, "PostgreSQL", args.lookup_requests))
    write_row("monitor lookup", command, "; ".join(lookups))
    print(f"rows written to {README.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
