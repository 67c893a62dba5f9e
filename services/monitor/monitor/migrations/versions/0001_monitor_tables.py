"""The monitor's first tables: requests, tasks, attempts, workers and the consumer's heartbeat.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(200)


def upgrade() -> None:
    op.create_table(
        "monitor_requests",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("method", sa.String(10)),
        sa.Column("path", sa.String(300)),
        sa.Column("status", sa.Integer),
        sa.Column("duration_ms", sa.Float),
        sa.Column("started_at", sa.Float),
        sa.Column("first_seen_at", sa.Float, nullable=False),
        sa.Column("last_seen_at", sa.Float, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_monitor_requests_first_seen", "monitor_requests", ["first_seen_at"])
    op.create_index("ix_monitor_requests_failed", "monitor_requests", ["first_seen_at"],
                    postgresql_where=sa.text("failures > 0"), sqlite_where=sa.text("failures > 0"))
    op.create_index("ix_monitor_requests_last_seen", "monitor_requests", ["last_seen_at"])
    op.create_table(
        "monitor_tasks",
        sa.Column("task_id", ID, primary_key=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("parent_id", ID),
        sa.Column("root_id", ID),
        sa.Column("queue", sa.String(200)),
        sa.Column("worker", sa.String(200)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("retries", sa.Integer, nullable=False),
        sa.Column("sent_at", sa.Float),
        sa.Column("received_at", sa.Float),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("runtime_ms", sa.Float),
        sa.Column("queue_wait_ms", sa.Float),
        sa.Column("exception", sa.Text),
        sa.Column("traceback", sa.Text),
    )
    op.create_index("ix_monitor_tasks_request", "monitor_tasks", ["request_id"])
    op.create_index("ix_monitor_tasks_state_name", "monitor_tasks", ["state", "name", "request_id"])
    op.create_table(
        "monitor_attempts",
        sa.Column("task_id", ID, primary_key=True),
        sa.Column("attempt", sa.Integer, primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("worker", sa.String(200)),
        sa.Column("sent_at", sa.Float),
        sa.Column("received_at", sa.Float),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("runtime_ms", sa.Float),
        sa.Column("exception", sa.Text),
    )
    op.create_table(
        "monitor_workers",
        sa.Column("hostname", sa.String(200), primary_key=True),
        sa.Column("online", sa.Integer, nullable=False),
        sa.Column("last_seen_at", sa.Float, nullable=False),
        sa.Column("active", sa.Integer),
        sa.Column("processed", sa.Integer),
    )
    op.create_table(
        "monitor_consumer",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("beat_at", sa.Float, nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("monitor_consumer", "monitor_workers", "monitor_attempts", "monitor_tasks", "monitor_requests"):
        op.drop_table(table)
