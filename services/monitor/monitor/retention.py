"""Forget requests older than MONITOR_RETENTION_DAYS, with their tasks and attempts; what
they counted in /metrics' counters and histograms stays counted (``totals.forget``)."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from monitor import totals
from monitor.store import Store
from monitor.tables import attempts, requests, tasks

log = logging.getLogger(__name__)
# Deleted per transaction, so a purge after a long outage never holds the writer's lock for long.
_CHUNK = 500
# How often the consumer process purges.
EVERY_SECONDS = 3600.0


def keep(engine: Engine, days: float, stop: threading.Event) -> None:
    """Purge now and every hour until ``stop`` is set (the consumer runs it in a thread)."""
    while True:
        try:
            purge(engine, time.time() - days * 86400)
        except Exception:
            log.exception("Retention purge failed; trying again in an hour")
        if stop.wait(EVERY_SECONDS):
            return


def purge(engine: Engine, cutoff: float) -> int:
    """Delete the requests last seen before ``cutoff`` (epoch seconds); return how many."""
    removed, insert = 0, Store(engine).insert
    while True:
        with engine.begin() as connection:
            old = connection.execute(
                select(requests.c.request_id).where(requests.c.last_seen_at < cutoff).limit(_CHUNK)
            ).scalars().all()
            if not old:
                break
            totals.forget(connection, tasks.c.request_id.in_(old), insert)
            task_ids = select(tasks.c.task_id).where(tasks.c.request_id.in_(old))
            connection.execute(delete(attempts).where(attempts.c.task_id.in_(task_ids)))
            connection.execute(delete(tasks).where(tasks.c.request_id.in_(old)))
            connection.execute(delete(requests).where(requests.c.request_id.in_(old)))
        removed += len(old)
    if removed:
        log.info("Retention: removed %d requests last seen before the cutoff", removed)
    return removed
