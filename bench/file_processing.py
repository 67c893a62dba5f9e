"""Throughput and memory of the processor's CSV statistics.

    .venv/bin/python bench/file_processing.py [--mb 200]

Generates a CSV of ``--mb`` megabytes (and one a quarter of that size), then, each in a fresh
process so that peak memory is its own:
- the processor's code (``processor.csvstats.scan`` with the task's progress tick) on the big file;
- a plain single-process Python loop computing the same statistics, on the same file;
- the processor's code on the small file: its peak memory must not grow with the file.
Prints the figures and writes its row in bench/README.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from readme_table import write_row

BENCH = Path(__file__).resolve().parent
README = BENCH / "README.md"
ROW_KEY = "file processing"
HEADER = ["id", "name", "price", "qty", "city", "note"]
CITIES = ["Oslo", "Rome", "Lima", "Kyoto", "Accra", "Quito", "Perth"]


def generate(big: Path, small: Path, megabytes: int) -> int:
    """Write ``big`` of ``megabytes`` MB and ``small`` of a quarter of it; return the big one's rows."""
    rng = random.Random(7)
    limit, small_limit = megabytes * 1_000_000, megabytes * 250_000
    rows = written = 0
    with open(big, "w", newline="") as out, open(small, "w", newline="") as out_small:
        line = ",".join(HEADER) + "\n"
        out.write(line)
        out_small.write(line)
        written = len(line)
        while written < limit:
            chunk = []
            for _ in range(10_000):
                rows += 1
                note = "" if rows % 7 else "checked"
                chunk.append(
                    f"{rows},item-{rng.randrange(10**6)},{rng.uniform(0, 500):.2f},{rng.randrange(1, 50)},"
                    f"{rng.choice(CITIES)},{note}\n"
                )
            text = "".join(chunk)
            out.write(text)
            if written < small_limit:
                out_small.write(text)
            written += len(text)
    return rows


def run_processor(path: str) -> dict[str, Any]:
    from celery import Celery
    from processor import csvstats
    from processor.progress import Progress

    # The tick the task uses, without a caller to report to and without a rows-per-second cap.
    tick = Progress(Celery(set_as_current=False), None, interval=1.0, max_rows_per_second=0)
    return csvstats.scan(path, tick, tick.tick_every)


def run_plain(path: str) -> dict[str, Any]:
    """The same statistics as the most direct single-process loop would compute them."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        columns = [{"name": name, "count": 0, "empty": 0, "values": 0, "sum": 0.0} for name in header]
        numeric = [True] * len(header)
        rows = 0
        for row in reader:
            rows += 1
            for i, value in enumerate(row):
                column = columns[i]
                if value == "":
                    column["empty"] += 1
                    continue
                column["count"] += 1
                if not numeric[i]:
                    continue
                try:
                    number = float(value)
                except ValueError:
                    numeric[i] = False
                    continue
                column["sum"] += number
                column["min"] = min(column.get("min", number), number)
                column["max"] = max(column.get("max", number), number)
    result = []
    for i, column in enumerate(columns):
        summary = {"name": column["name"], "count": column["count"], "empty": column["empty"]}
        if numeric[i] and column["count"]:
            summary.update(type="number", min=column["min"], max=column["max"], mean=column["sum"] / column["count"])
        else:
            summary["type"] = "text"
        result.append(summary)
    return {"rows": rows, "columns": result}


def measure(kind: str, path: Path) -> dict[str, Any]:
    """Run ``kind`` on ``path`` in a fresh process: rows, seconds, peak RSS and the statistics."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)


def child(kind: str, path: str) -> None:
    start = time.perf_counter()
    stats = (run_processor if kind == "processor" else run_plain)(path)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json.dump({"rows": stats["rows"], "seconds": seconds, "peak_mb": peak_mb, "stats": stats}, sys.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=200, help="size of the big file in MB (at least 200 for the README)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="threadline-bench-") as tmp:
        big, small = Path(tmp) / "big.csv", Path(tmp) / "small.csv"
        started = time.perf_counter()
        rows = generate(big, small, args.mb)
        big_mb, small_mb = big.stat().st_size / 1e6, small.stat().st_size / 1e6
        print(f"generated {big_mb:.0f} MB ({rows} rows) and {small_mb:.0f} MB in {time.perf_counter() - started:.0f} s")
        processor, plain = measure("processor", big), measure("plain", big)
        processor_small = measure("processor", small)
    assert processor["stats"] == plain["stats"], "the processor and the plain loop disagree"
    ratio = (processor["rows"] / processor["seconds"]) / (plain["rows"] / plain["seconds"])
    for name, run in (("processor", processor), ("plain loop", plain)):
        rate = run["rows"] / run["seconds"]
        print(f"{name:<11} {rate:>10,.0f} rows/s  {run['seconds']:6.1f} s  peak {run['peak_mb']:.0f} MB")
    print(f"ratio processor / plain loop: {ratio:.2f} (same statistics: yes)")
    print(f"processor peak memory: {processor_small['peak_mb']:.0f} MB on {small_mb:.0f} MB, "
          f"{processor['peak_mb']:.0f} MB on {big_mb:.0f} MB")
    result = (
        f"{processor['rows'] / processor['seconds']:,.0f} rows/s vs plain loop {plain['rows'] / plain['seconds']:,.0f} "
        f"rows/s (ratio {ratio:.2f}) on {big_mb:.0f} MB; peak memory {processor_small['peak_mb']:.0f} MB "
        f"at {small_mb:.0f} MB, {processor['peak_mb']:.0f} MB at {big_mb:.0f} MB"
    )
    if args.mb >= 200:
        write_row(ROW_KEY, ".venv/bin/python bench/file_processing.py", result)
        print(f"row written to {README.relative_to(BENCH.parent)}")


if __name__ == "__main__":
    main()
