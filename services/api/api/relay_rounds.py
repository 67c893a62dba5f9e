"""One round of the relay: publish what POST could not, re-publish what never settled.

- Messages and files unpublished after the grace period are published (the outbox).
- A published message whose channels are not all final after ``sweep_after`` is published
  again: its lost deliveries run, its settled ones change nothing. At most ``max_sweeps``
  times; after that it is logged as an error and its task waits in the dead-letter queue.
- Uploads in the file store that no row names (the row's insert failed) are deleted.

All ages are measured on the database's clock.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path

from celery import Celery
from sqlalchemy import Engine, bindparam, func, select, update
from threadline import request_context

from api.delivery_states import settled_messages
from api.notifier_client import publish
from api.outbox import FILES, MESSAGES, database_now, unpublished
from api.processor_client import publish_file

log = logging.getLogger(__name__)
BATCH = 100
UNSETTLED = (
    select(MESSAGES).where(
        MESSAGES.c.published_at < bindparam("cutoff"), MESSAGES.c.settled_at.is_(None),
        MESSAGES.c.sweeps < bindparam("max_sweeps"),
    ).order_by(MESSAGES.c.id).limit(BATCH).with_for_update(skip_locked=True)
)


def relay_once(celery: Celery, engine: Engine, grace: timedelta) -> int:
    """Publish unpublished messages and files older than ``grace``; return how many."""
    published = 0
    for table, send in ((MESSAGES, publish), (FILES, publish_file)):
        with engine.begin() as connection:
            cutoff = database_now(connection) - grace
            done = []
            for row in connection.execute(unpublished(table, BATCH), {"cutoff": cutoff}):
                with request_context(row.request_id):
                    if not send(celery, row):
                        break  # the broker is still away; try again on the next round
                    log.info("Outbox relay published %s %s", table.name[:-1], row.id)
                    done.append(row.id)
            if done:
                connection.execute(update(table).where(table.c.id.in_(done)).values(published_at=func.now()))
        published += len(done)
    return published


def sweep_once(celery: Celery, engine: Engine, sweep_after: timedelta, max_sweeps: int) -> int:
    """Settle or re-publish messages published more than ``sweep_after`` ago; return how many
    were re-published."""
    with engine.begin() as connection:
        cutoff = database_now(connection) - sweep_after
        rows = connection.execute(UNSETTLED, {"cutoff": cutoff, "max_sweeps": max_sweeps}).all()
        settled = settled_messages(connection, [row.id for row in rows])
        if settled:
            connection.execute(update(MESSAGES).where(MESSAGES.c.id.in_(settled)).values(settled_at=func.now()))
        swept = []
        for row in rows:
            if row.id in settled:
                continue
            with request_context(row.request_id):
                if not publish(celery, row):
                    break
                swept.append(row.id)
                if row.sweeps + 1 >= max_sweeps:
                    log.error("Message %s still not settled after %s sweeps; see the dead-letter queue",
                              row.id, max_sweeps)
                else:
                    log.warning("Message %s not settled %s after publishing; published again", row.id, sweep_after)
        if swept:
            connection.execute(
                update(MESSAGES).where(MESSAGES.c.id.in_(swept))
                .values(published_at=func.now(), sweeps=MESSAGES.c.sweeps + 1)
            )
    return len(swept)


def remove_orphaned_uploads(engine: Engine, file_store: Path, older_than: timedelta) -> int:
    """Delete uploads no files row names, older than ``older_than``; return how many."""
    if not file_store.is_dir():
        return 0
    cutoff = time.time() - older_than.total_seconds()
    candidates = {str(path.resolve()): path for path in file_store.glob("*.csv") if path.stat().st_mtime < cutoff}
    if not candidates:
        return 0
    with engine.connect() as connection:
        known = set(connection.scalars(select(FILES.c.path).where(FILES.c.path.in_(list(candidates)))))
    orphans = [path for name, path in candidates.items() if name not in known]
    for path in orphans:
        path.unlink(missing_ok=True)
        log.warning("Removed upload %s: no file record names it", path.name)
    return len(orphans)
