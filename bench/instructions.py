"""Instructions per task of a real prefork worker under callgrind: a figure noise cannot move.

    .venv/bin/python bench/instructions.py [--modes plain,traced] [--small 200] [--large 1200]

For each mode (see overhead_app) it runs a worker (prefork, 2 processes) under valgrind's
callgrind twice, draining ``--small`` and then ``--large`` no-op tasks that each log one line,
published beforehand into a vhost of its own. Start-up, warm-up and shutdown cost the same in
both runs, so the difference of the two counts over the difference of the task counts is what
one task costs: in the main process (receiving, acking, Celery's "received" line) and in the
pool processes (running the task, its line and the "succeeded" line). The process that
publishes the messages beforehand runs under callgrind too, for the cost of one publish.
Wall-clock ratios on a shared machine move by several percent from pair to pair; these counts
move less, but they move: a worker whose broker answers more slowly turns its event loop more
often per task (plain measured 1,728k to 1,770k per task in four runs on one day), so compare
modes within one run, on an otherwise idle machine. It prints each mode's figures, the others
relative to the first, and writes a row per mode into bench/README.md. Needs valgrind (apt
package ``valgrind``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
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
    out_dir.mkdir()
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
    parser.add_argument("--keep", type=Path, help="keep callgrind's files here, for callgrind_annotate")
    opts = parser.parse_args()
    # A plain `kill` must still stop the worker and delete the vhost (the finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (apt-get install valgrind)")
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE))
    from readme_table import write_row

    from devtools import rabbit

    modes = opts.modes.split(",")
    figures: dict[str, list[float]] = {}  # mode -> publish, main, pool
    work = Path(tempfile.mkdtemp(prefix="threadline-callgrind-", dir=opts.keep))
    vhost = f"threadline-callgrind-{uuid.uuid4().hex[:8]}"
    rabbit.add_vhost(vhost)
    try:
        broker = f"amqp://guest:guest@localhost:5672/{vhost}"
        for mode in modes:
            small, large = count(mode, opts.small, broker, work), count(mode, opts.large, broker, work)
            tasks = opts.large - opts.small
            figures[mode] = [(b - a) / tasks for a, b in zip(small, large, strict=True)]
            publish, main_ir, pool_ir = figures[mode]
            print(f"{mode}: publish {publish / 1e3:,.1f}k per message; main {main_ir / 1e3:,.1f}k, pool "
                  f"{pool_ir / 1e3:,.1f}k, total {(main_ir + pool_ir) / 1e3:,.1f}k per task", flush=True)
    finally:
        rabbit.delete_vhost(vhost)
        if opts.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    reference_publish, *reference_worker = figures[modes[0]]
    reference = sum(reference_worker)
    command = (f".venv/bin/python bench/instructions.py --modes {opts.modes} --small {opts.small} "
               f"--large {opts.large}")
    for mode, (publish, main_ir, pool_ir) in figures.items():
        total = main_ir + pool_ir
        text = (f"main {main_ir / 1e3:,.1f}k, pool {pool_ir / 1e3:,.1f}k, total {total / 1e3:,.1f}k "
                f"instructions per no-op task ({total / reference - 1:+.1%} against {modes[0]}); publish "
                f"{publish / 1e3:,.1f}k per message ({publish / reference_publish - 1:+.1%})")
        print(text)
        write_row(f"instructions.py: {mode}", command, text)


if __name__ == "__main__":
    main()
