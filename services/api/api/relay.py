"""Outbox relay entry point: ``python -m api.relay`` publishes what POST could not.

Each round it publishes unpublished messages and files, re-publishes messages that did not
settle, and removes orphaned uploads (see ``api.relay_rounds``). Run one per database on
SQLite; on PostgreSQL several relays share the work through row locks.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta
from pathlib import Path

from threadline import logs
from threadline.conf import env_int

from api.app import create_app
from api.relay_rounds import relay_once, remove_orphaned_uploads, sweep_once

log = logging.getLogger("api.relay")


def main() -> None:
    logs.configure("relay")
    app = create_app()
    celery, engine = app.extensions["celery"], app.extensions["engine"]
    file_store = Path(app.extensions["settings"].file_store)
    interval = env_int("OUTBOX_RELAY_INTERVAL_SECONDS", 2)
    grace = timedelta(seconds=env_int("OUTBOX_GRACE_SECONDS", 5))
    sweep_after = timedelta(seconds=env_int("OUTBOX_SWEEP_AFTER_SECONDS", 600))
    max_sweeps = env_int("OUTBOX_MAX_SWEEPS", 3)
    # Touched every round when set: compose's health check reads its age.
    heartbeat = Path(os.environ["OUTBOX_RELAY_HEARTBEAT"]) if os.environ.get("OUTBOX_RELAY_HEARTBEAT") else None
    log.info("Outbox relay started: every %s s, rows older than %s, sweeps after %s", interval, grace, sweep_after)
    while True:
        for round_ in (
            lambda: relay_once(celery, engine, grace),
            lambda: sweep_once(celery, engine, sweep_after, max_sweeps),
            lambda: remove_orphaned_uploads(engine, file_store, sweep_after),
        ):
            try:
                round_()
            except Exception:
                log.exception("Outbox relay round failed; retrying")
        if heartbeat is not None:
            heartbeat.touch()
        time.sleep(interval)


if __name__ == "__main__":
    main()
