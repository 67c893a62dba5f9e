"""Bring the monitor's tables to the newest migration; both processes call it at start."""

from __future__ import annotations

import logging
import time

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)
# The monitor's own version table: other services may keep Alembic versions in the same database.
VERSION_TABLE = "monitor_alembic_version"
_ATTEMPTS = 10


def upgrade(engine: Engine) -> None:
    """Run the pending migrations; safe when the consumer and the web process start together."""
    config = Config()
    config.set_main_option("script_location", "monitor:migrations")
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
            return
        except DBAPIError as exc:
            # The other process ran the same migration first; the next round finds it done.
            if attempt == _ATTEMPTS:
                raise
            log.info("Migration raced another process (%s); trying again", exc.orig)
            time.sleep(0.2 * attempt)
