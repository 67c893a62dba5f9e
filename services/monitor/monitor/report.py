"""The daily failure report: the last 24 hours from the store, as plain text and HTML.

    python -m monitor.report [--send]     (make report [ARGS=--send])

Failures by task name and exception type (count, first and last time, up to five request IDs
with their trace links), alerts sent and undelivered, retries by task, and the slowest tasks
(p95 run time and queue wait). A day without failures says so in one line.
"""

from __future__ import annotations

import argparse
import html
import sys
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from threadline import logs
from threadline.database import make_engine

from monitor import mail
from monitor.alerts import exception_type
from monitor.config import Settings
from monitor.tables import alerts, tasks
from monitor.traces import iso

DAY = 86400.0
EXAMPLES = 5
SLOWEST = 10


@dataclass
class Report:
    subject: str
    text: str
    html: str


def figures(connection: Connection, now: float) -> dict[str, Any]:
    """What the report says about the 24 hours before ``now``."""
    since = now - DAY
    failed = connection.execute(
        select(tasks.c.name, tasks.c.exception, tasks.c.request_id, tasks.c.finished_at)
        .where(tasks.c.state == "FAILURE", tasks.c.finished_at >= since, tasks.c.finished_at < now)
        .order_by(tasks.c.finished_at)
    ).all()
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for name, exception, request_id, finished_at in failed:
        group = groups.setdefault((name or "?", exception_type(exception)), {"count": 0, "requests": []})
        group["count"] += 1
        group.setdefault("first", finished_at)
        group["last"] = finished_at
        if request_id not in group["requests"] and len(group["requests"]) < EXAMPLES:
            group["requests"].append(request_id)
    alert_counts = dict(connection.execute(
        select(alerts.c.state, func.count()).where(alerts.c.created_at >= since).group_by(alerts.c.state)).all())
    retries = connection.execute(
        select(tasks.c.name, func.sum(tasks.c.retries)).where(tasks.c.sent_at >= since, tasks.c.retries > 0)
        .group_by(tasks.c.name).order_by(func.sum(tasks.c.retries).desc())).all()
    return {
        "since": since, "now": now, "failures": sorted(groups.items(), key=lambda item: -item[1]["count"]),
        "alerts": alert_counts, "retries": [(name, int(count)) for name, count in retries],
        "slowest": _slowest(connection, since, now),
    }


def _slowest(connection: Connection, since: float, now: float) -> list[tuple[str, float, float]]:
    rows = connection.execute(
        select(tasks.c.name, tasks.c.runtime_ms, tasks.c.queue_wait_ms)
        .where(tasks.c.finished_at >= since, tasks.c.finished_at < now)).all()
    by_name: dict[str, tuple[list[float], list[float]]] = {}
    for name, runtime, wait in rows:
        runs, waits = by_name.setdefault(name or "?", ([], []))
        runs.extend([runtime] if runtime is not None else [])
        waits.extend([wait] if wait is not None else [])
    found = [(name, _p95(runs), _p95(waits)) for name, (runs, waits) in by_name.items()]
    return sorted(found, key=lambda item: -item[1])[:SLOWEST]


def _p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95)] if values else 0.0


def render(data: dict[str, Any], public_url: str) -> Report:
    failures = data["failures"]
    total = sum(group["count"] for _, group in failures)
    day = f"{iso(data['since'])} to {iso(data['now'])}"
    subject = f"Threadline: {total} failed tasks in the last 24 hours" if total else "Threadline: no failed tasks"
    lines = [f"Failures, {day}", ""]
    if not failures:
        lines.append("No task failed in the last 24 hours.")
    for (name, kind), group in failures:
        lines.append(f"{group['count']:>6}  {name}  {kind}  first {iso(group['first'])}  last {iso(group['last'])}")
        lines.extend(f"        {public_url}/traces/{request_id}" for request_id in group["requests"])
    sent, undelivered = data["alerts"].get("sent", 0), data["alerts"].get("undelivered", 0)
    lines += ["", f"Alerts: {sent} sent, {undelivered} undelivered, {data['alerts'].get('pending', 0)} pending"]
    lines += ["", "Retries by task:"] + ([f"{count:>6}  {name}" for name, count in data["retries"]] or ["  none"])
    lines += ["", "Slowest tasks (p95 run time, p95 queue wait):"]
    lines += [f"  {name}  run {run:.1f} ms  wait {wait:.1f} ms" for name, run, wait in data["slowest"]]
    return Report(subject, "\n".join(lines) + "\n", _html(data, subject, day, public_url))


def _html(data: dict[str, Any], subject: str, day: str, public_url: str) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{group['count']}</td><td>{e(name)}</td><td>{e(kind)}</td><td>{iso(group['first'])}</td>"
        f"<td>{iso(group['last'])}</td><td>"
        + " ".join(f'<a href="{e(public_url)}/traces/{e(rid)}">{e(rid)}</a>' for rid in group["requests"])
        + "</td></tr>"
        for (name, kind), group in data["failures"]
    )
    failures = (f"<table><tr><th>count</th><th>task</th><th>exception</th><th>first</th><th>last</th>"
                f"<th>requests</th></tr>{rows}</table>") if rows else "<p>No task failed in the last 24 hours.</p>"
    retries = "".join(f"<li>{e(name)}: {count}</li>" for name, count in data["retries"]) or "<li>none</li>"
    slowest = "".join(f"<li>{e(name)}: run {run:.1f} ms, wait {wait:.1f} ms</li>" for name, run, wait in
                      data["slowest"])
    alerts_line = ", ".join(f"{count} {state}" for state, count in sorted(data["alerts"].items())) or "none"
    return (f"<html><body><h1>{e(subject)}</h1><p>{e(day)}</p>{failures}<h2>Alerts</h2><p>{alerts_line}</p>"
            f"<h2>Retries by task</h2><ul>{retries}</ul><h2>Slowest tasks (p95)</h2><ul>{slowest}</ul>"
            f"</body></html>")


def build(settings: Settings, now: float | None = None) -> Report:
    with make_engine(settings.database_url).connect() as connection:
        return render(figures(connection, now or time.time() + settings.clock_offset), settings.public_url)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make report", description="The daily failure report, now")
    parser.add_argument("--send", action="store_true", help="also mail it to REPORT_TO")
    args = parser.parse_args(argv)
    logs.configure("script")
    settings = Settings.from_env()
    report = build(settings)
    print(report.subject, report.text, sep="\n\n")
    if args.send:
        mail.send(settings, report.subject, report.text, report.html)
        print(f"Sent to {settings.report_to}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
