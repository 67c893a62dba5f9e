"""Outbox relay entry point: ``python -m api.relay`` publishes what POST could not."""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta
from pathlib import Path

from threadline import logs
from threadline.conf import env_int

from api.app import create_app
from api.outbox import relay_once

log = logging.getLogger("api.relay")


def main() -> None:
    logs.configure("relay")
    app = create_app()
    celery, engine = app.extensions["celery"], app.extensions["engine"]
    interval = env_int("OUTBOX_RELAY_INTERVAL_SECONDS", 2)
    grace = timedelta(seconds=env_int("OUTBOX_GRACE_SECONDS", 5))
    # Touched every round when set: compose's health check reads its age.
    heartbeat = Path(os.environ["OUTBOX_RELAY_HEARTBEAT"]) if os.environ.get("OUTBOX_RELAY_HEARTBEAT") else None
    log.info("Outbox relay started: every %s s, messages older than %s", interval, grace)
    while True:
        try:
            relay_once(celery, engine, grace)
        except Exception:
            log.exception("Outbox relay round failed; retrying")
        if heartbeat is not None:
            heartbeat.touch()
        time.sleep(interval)


if __name__ == "__main__":
    main()
