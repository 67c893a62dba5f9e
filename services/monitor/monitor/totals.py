"""The sums behind /metrics' counters and histograms, which retention must never lower.

They are computed from the stored tasks at each scrape. Retention removes tasks every hour, so
before it does it adds what they counted to ``monitor_purged`` (``forget``), and every scrape
adds that back (``of_all_tasks``): each counter and histogram only ever grows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from monitor.tables import purged, tasks

RETRIES = "threadline_task_retries"
# Histograms in seconds, from columns in milliseconds.
HISTOGRAMS = {"threadline_task_runtime_seconds": tasks.c.runtime_ms,
              "threadline_task_queue_wait_seconds": tasks.c.queue_wait_ms}
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# (metric, sample, task name) -> value; sample is "" for a counter, else "count", "sum" or a
# bucket's upper bound.
Totals = dict[tuple[str, str, str], float]


def of_all_tasks(connection: Connection) -> Totals:
    """The sums over every task stored and every task retention removed."""
    totals = of_tasks(connection)
    for metric, sample, name, value in connection.execute(select(purged)):
        key = (metric, sample, name)
        totals[key] = totals.get(key, 0) + value
    return totals


def forget(connection: Connection, where: Any, insert: Any) -> None:
    """Add what the tasks ``where`` selects count to the purged sums, before they are deleted;
    ``insert`` is the dialect's insert (it upserts). Zeros too: a series stays once it showed."""
    rows = [{"metric": metric, "sample": sample, "name": name, "value": value}
            for (metric, sample, name), value in of_tasks(connection, where).items()]
    if rows:
        statement = insert(purged)
        added = {"value": purged.c.value + statement.excluded.value}
        connection.execute(statement.on_conflict_do_update(index_elements=["metric", "sample", "name"], set_=added),
                           rows)


def of_tasks(connection: Connection, where: Any = None) -> Totals:
    """The sums over the stored tasks, or those ``where`` selects."""
    totals: Totals = {}
    query = select(tasks.c.name, func.sum(tasks.c.retries)).group_by(tasks.c.name)
    for name, retried in connection.execute(query if where is None else query.where(where)):
        totals[(RETRIES, "", name or "")] = retried or 0
    for metric, column in HISTOGRAMS.items():
        seconds = column / 1000
        counts = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in BUCKETS]
        query = select(tasks.c.name, func.count(), func.sum(seconds), *counts).where(column.is_not(None))
        query = query.group_by(tasks.c.name)
        for name, count, added, *cumulative in connection.execute(query if where is None else query.where(where)):
            totals[(metric, "count", name or "")] = count
            totals[(metric, "sum", name or "")] = added or 0.0
            for bound, within in zip(BUCKETS, cumulative, strict=True):
                totals[(metric, str(bound), name or "")] = within or 0
    return totals
