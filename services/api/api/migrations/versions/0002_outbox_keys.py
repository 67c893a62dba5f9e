"""Messages get a UUID key, the addresses captured at acceptance, the client's Idempotency-Key,
settle and sweep marks; files join the outbox; creation times come from the database's clock.

Rows from before keep working: a message's key becomes ``message-<id>``, so its channels keep
the idempotency keys the providers already saw; its addresses are read from its recipient now;
a file not yet finished is left unpublished, so that the relay publishes it (again).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("key", sa.String(32), nullable=True))
        batch.add_column(sa.Column("addresses", sa.JSON, nullable=True))
        batch.add_column(sa.Column("client_key", sa.String(255), nullable=True))
        batch.add_column(sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sweeps", sa.Integer, nullable=False, server_default="0"))
        batch.alter_column("created_at", server_default=sa.func.now())
    _backfill_messages()
    with op.batch_alter_table("messages") as batch:
        batch.alter_column("key", nullable=False)
        batch.alter_column("addresses", nullable=False)
        batch.create_unique_constraint("uq_messages_key", ["key"])
        batch.create_unique_constraint("uq_messages_sender_client_key", ["sender", "client_key"])
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_files_published_at", ["published_at"])
        batch.alter_column("created_at", server_default=sa.func.now())
    op.execute("UPDATE files SET published_at = created_at WHERE status IN ('succeeded', 'failed')")


def _backfill_messages() -> None:
    connection = op.get_bind()
    messages, users = sa.table("messages", sa.column("id"), sa.column("recipient"), sa.column("key"),
                               sa.column("addresses", sa.JSON)), sa.table(
        "users", sa.column("id"), sa.column("device_token"), sa.column("email"), sa.column("phone"),
        sa.column("push_enabled"), sa.column("email_enabled"), sa.column("sms_enabled"))
    rows = connection.execute(sa.select(messages.c.id, users).outerjoin(users, users.c.id == messages.c.recipient))
    for row in rows.all():
        addresses = {
            "push": row.device_token if row.push_enabled else None,
            "email": row.email if row.email_enabled else None,
            "sms": row.phone if row.sms_enabled else None,
        }
        connection.execute(sa.update(messages).where(messages.c.id == row[0])
                           .values(key=f"message-{row[0]}", addresses=addresses))
