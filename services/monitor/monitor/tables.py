"""The monitor's own tables; migrations/ creates and changes them (Alembic, run at start).

Times are seconds since the epoch (UTC), as Celery's events carry them.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, Text, text

metadata = MetaData()

# A request ID is at most 64 characters; a task ID is one, "_" and a UUID, or a caller's own.
ID = String(200)

requests = Table(
    "monitor_requests",
    metadata,
    Column("request_id", String(64), primary_key=True),
    # Known for requests the API served (its request-served event); empty for beat or scripts.
    Column("method", String(10)),
    Column("path", String(300)),
    Column("status", Integer),
    Column("duration_ms", Float),
    Column("started_at", Float),
    Column("first_seen_at", Float, nullable=False),
    Column("last_seen_at", Float, nullable=False),
    # Tasks of the request now in FAILURE: the failed-only list reads this, not every task.
    Column("failures", Integer, nullable=False, server_default="0"),
    Index("ix_monitor_requests_first_seen", "first_seen_at"),
    Index("ix_monitor_requests_last_seen", "last_seen_at"),
    Index("ix_monitor_requests_failed", "first_seen_at", postgresql_where=text("failures > 0"),
          sqlite_where=text("failures > 0")),
)

tasks = Table(
    "monitor_tasks",
    metadata,
    Column("task_id", ID, primary_key=True),
    Column("request_id", String(64), nullable=False),
    Column("name", String(200)),
    Column("parent_id", ID),
    Column("root_id", ID),
    Column("queue", String(200)),
    Column("worker", String(200)),
    Column("state", String(16), nullable=False),
    Column("retries", Integer, nullable=False),
    Column("sent_at", Float),
    Column("received_at", Float),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("runtime_ms", Float),
    Column("queue_wait_ms", Float),
    Column("exception", Text),
    Column("traceback", Text),
    Index("ix_monitor_tasks_request", "request_id"),
    # Covers the list's filters (state, and name) up to the request ID they select.
    Index("ix_monitor_tasks_state_name", "state", "name", "request_id"),
)

# One row per try of a task: a retry keeps the task ID, so (task_id, attempt) is the key.
attempts = Table(
    "monitor_attempts",
    metadata,
    Column("task_id", ID, primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("worker", String(200)),
    Column("sent_at", Float),
    Column("received_at", Float),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("runtime_ms", Float),
    Column("exception", Text),
)

workers = Table(
    "monitor_workers",
    metadata,
    Column("hostname", String(200), primary_key=True),
    Column("online", Integer, nullable=False),
    Column("last_seen_at", Float, nullable=False),
    Column("active", Integer),
    Column("processed", Integer),
)

# The consumer's heartbeat: /api/health reads it, so the web process knows the consumer runs.
consumer = Table(
    "monitor_consumer",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("beat_at", Float, nullable=False),
    Column("events", Integer, nullable=False),
    # Seconds from the newest event of the last batch to its commit.
    Column("lag_seconds", Float),
)

# The alert outbox: one row per dedup key (task name and UTC hour), so a key pages once however
# many monitors run; later failures under the same key only count up ``repeats``.
alerts = Table(
    "monitor_alerts",
    metadata,
    Column("dedup_key", String(300), primary_key=True),
    Column("task_id", ID, nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("task_name", String(200), nullable=False),
    Column("exception_type", String(200)),
    Column("payload", Text, nullable=False),
    # pending (to send), sent, or undelivered (gave up: last_error says why).
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("repeats", Integer, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_error", Text),
    Column("created_at", Float, nullable=False),
    Column("sent_at", Float),
    Index("ix_monitor_alerts_state_next", "state", "next_attempt_at"),
)

# What retention removed from /metrics' counters and histograms (retries, run-time and
# queue-wait buckets, per task name), so that they never fall: Prometheus reads a counter that
# falls as a restart, and its rates would count every stored task again.
purged = Table(
    "monitor_purged",
    metadata,
    Column("metric", String(64), primary_key=True),
    # "" for a counter; for a histogram "count", "sum" or a bucket's upper bound.
    Column("sample", String(16), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("value", Float, nullable=False),
)
