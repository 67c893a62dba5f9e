"""Instructions per task of a real prefork worker under callgrind: a figure noise cannot move.

    .venv/bin/python bench/instructions.py [--modes plain,traced] [--small 200] [--large 1200]
        [--repeat 5]

For each mode (see overhead_app) it runs a worker (prefork, 2 processes) under valgrind's
callgrind twice, draining ``--small`` and then ``--large`` no-op tasks that each log one line,
published beforehand into a vhost of its own. Start-up, warm-up and shutdown cost the same in
both runs, so the difference of the two counts over the difference of the task counts is what
one task costs: in the main process (receiving, acking, Celery's "received" line) and in the
pool processes (running the task, its line and the "succeeded" line). The process that
publishes the messages beforehand runs under callgrind too, for the cost of one publish.

The pool's and the publisher's counts repeat within a few thousand instructions; the main
process's do not: it turns its event loop, and reads the broker's socket, as often as the
messages happen to arrive (plain measured 1,141k to 1,170k per task in its main process on
one day). So the modes run ``--repeat`` times, in turn, every other repetition in reverse
order, and each figure is the median of a mode's repetitions; each repetition's total against
the first mode's in that repetition is printed too, to show the spread. Compare modes within
one run, on an otherwise idle machine. It writes a row per mode into bench/README.md. Needs
valgrind (apt package ``valgrind``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
_SUMMARY = re.compile(rb"^(?:summary|totals): (\d+)", re.MULTILINE)


def count(mode: str, tasks: int, broker: str, work: Path) -> tuple[int, int, int]:
    """Instructions of the publisher of ``tasks`` messages, and of (main process, pool
    processes) of a worker that drains them."""
    out_dir = work / f"{mode}-{tasks}"
    out_dir.mkdir(parents=True)
    log = out_dir / "worker.log"
    env = {**os.environ, "BENCH_MODE": mode, "BENCH_BROKER": broker, "BENCH_LOG": str(log),
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_dir}/publisher",
                    sys.executable, "-c", f"import overhead_app; overhead_app.publish('noop', {tasks})"],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    publisher = instructions(out_dir / "publisher")
    worker = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_dir}/callgrind.%p",
         sys.executable, "-m", "celery", "-A", "overhead_app", "worker", "-P", "prefork", "-c", "2",
         "-Q", f"bench.{mode}", "-n", f"{mode}-{uuid.uuid4().hex[:6]}@bench", "-l", "INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 1800
        while not log.exists() or log.read_bytes().count(b"] succeeded in ") < tasks:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{mode} worker under callgrind stopped before {tasks} tasks; see {log}")
            time.sleep(0.5)
    finally:
        worker.terminate()  # warm shutdown: every process exits and callgrind writes its counts
        worker.wait(600)
    main, pool = 0, 0
    for path in out_dir.glob("callgrind.*"):
        if path.name == f"callgrind.{worker.pid}":
            main += instructions(path)
        else:
            pool += instructions(path)
    return publisher, main, pool


def instructions(path: Path) -> int:
    match = _SUMMARY.search(path.read_bytes())
    if match is None:
        raise RuntimeError(f"no instruction count in {path}")
    return int(match[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="plain,traced", help="comma-separated; the first is the reference")
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=1200)
    parser.add_argument("--repeat", type=int, default=5, help="runs of every mode; figures are their medians")
    parser.add_argument("--keep", type=Path, help="keep callgrind's files here, for callgrind_annotate")
    opts = parser.parse_args()
    # A plain `kill` must still stop the worker and delete the vhost (the finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (apt-get install valgrind)")
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE))
    from devtools import rabbit

    modes = opts.modes.split(",")
    runs: dict[str, list[list[float]]] = {mode: [] for mode in modes}  # mode -> [publish, main, pool] per repetition
    work = Path(tempfile.mkdtemp(prefix="threadline-callgrind-", dir=opts.keep))
    vhost = f"threadline-callgrind-{uuid.uuid4().hex[:8]}"
    rabbit.add_vhost(vhost)
    try:
        broker = f"amqp://guest:guest@localhost:5672/{vhost}"
        for repetition in range(opts.repeat):
            # In turn, every other repetition reversed: a drift of the machine over the run
            # weighs on every mode alike.
            for mode in modes if repetition % 2 == 0 else modes[::-1]:
                small = count(mode, opts.small, broker, work / f"{repetition}")
                large = count(mode, opts.large, broker, work / f"{repetition}")
                tasks = opts.large - opts.small
                runs[mode].append([(b - a) / tasks for a, b in zip(small, large, strict=True)])
                publish, main_ir, pool_ir = runs[mode][-1]
                print(f"{repetition + 1}/{opts.repeat} {mode}: publish {publish / 1e3:,.1f}k per message; main "
                      f"{main_ir / 1e3:,.1f}k, pool {pool_ir / 1e3:,.1f}k, total {(main_ir + pool_ir) / 1e3:,.1f}k "
                      "per task", flush=True)
    finally:
        rabbit.delete_vhost(vhost)
        if opts.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    report(runs, modes, opts)


def report(runs: dict[str, list[list[float]]], modes: list[str], opts: argparse.Namespace) -> None:
    """Each mode's medians, against the first mode's, printed and written as rows."""
    from readme_table import write_row

    reference = modes[0]
    medians = {mode: [statistics.median(column) for column in zip(*rows, strict=True)] for mode, rows in runs.items()}
    totals = {mode: statistics.median(main_ir + pool_ir for _, main_ir, pool_ir in rows) for mode, rows in runs.items()}
    command = (f".venv/bin/python bench/instructions.py --modes {opts.modes} --small {opts.small} "
               f"--large {opts.large} --repeat {opts.repeat}")
    for mode in modes:
        publish, main_ir, pool_ir = medians[mode]
        each = ", ".join(f"{(m + p) / (rm + rp) - 1:+.1%}"
                         for (_, m, p), (_, rm, rp) in zip(runs[mode], runs[reference], strict=True))
        text = (f"medians of {opts.repeat}: main {main_ir / 1e3:,.1f}k, pool {pool_ir / 1e3:,.1f}k, total "
                f"{totals[mode] / 1e3:,.1f}k instructions per no-op task ({totals[mode] / totals[reference] - 1:+.1%} "
                f"against {reference}; each repetition {each}); publish {publish / 1e3:,.1f}k per message "
                f"({publish / medians[reference][0] - 1:+.1%})")
        print(f"{mode}: {text}")
        write_row(f"instructions.py: {mode}", command, text)


if __name__ == "__main__":
    main()
