"""Deliveries record their idempotency key, and the task that is sending an e-mail.

Rows from before keep the key they were delivered with: ``message-<id>-<channel>``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(160), nullable=True))
    op.execute("UPDATE deliveries SET idempotency_key = 'message-' || message_id || '-' || channel")
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("idempotency_key", nullable=False)
