"""Alembic environment: migrate.upgrade hands over the connection to run on."""

from alembic import context
from monitor.migrate import VERSION_TABLE
from monitor.tables import metadata

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    # One transaction for the whole upgrade, on SQLite too: a race leaves nothing half-made.
    transactional_ddl=True,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
