"""Three tables, as a service's first revision makes them."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    for name in ("users", "messages", "files"):
        op.create_table(name, sa.Column("id", sa.Integer, primary_key=True))
