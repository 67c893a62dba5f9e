"""The alert outbox (one row per dedup key) and the consumer's lag.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor_alerts",
        sa.Column("dedup_key", sa.String(300), primary_key=True),
        sa.Column("task_id", sa.String(200), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("task_name", sa.String(200), nullable=False),
        sa.Column("exception_type", sa.String(200)),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("repeats", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("sent_at", sa.Float),
    )
    op.create_index("ix_monitor_alerts_state_next", "monitor_alerts", ["state", "next_attempt_at"])
    with op.batch_alter_table("monitor_consumer") as table:
        table.add_column(sa.Column("lag_seconds", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("monitor_consumer") as table:
        table.drop_column("lag_seconds")
    op.drop_table("monitor_alerts")
