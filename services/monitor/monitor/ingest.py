"""The consumer process: ``python -m monitor.ingest``. Migrates, then stores events until SIGTERM."""

from __future__ import annotations

import logging
import signal
import socket
import threading
from typing import Any

from threadline import logs
from threadline.database import make_engine

from monitor import alert_delivery, migrate, retention
from monitor.celery_app import make_celery
from monitor.config import Settings
from monitor.consume import Ingester
from monitor.store import Store

log = logging.getLogger("monitor.ingest")


def main() -> None:
    logs.configure("monitor")
    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    stop = threading.Event()

    def on_signal(signum: int, _: Any) -> None:
        log.info("Signal %s: committing what is pending, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.Thread(target=retention.keep, args=(engine, settings.retention_days, stop), daemon=True).start()
    threading.Thread(target=alert_delivery.run, args=(engine, settings, stop), daemon=True).start()
    ingester = Ingester(make_celery(settings), settings, Store(engine), f"monitor@{socket.gethostname()}")
    ingester.run(stop.is_set)
    log.info("Stopped")


if __name__ == "__main__":
    main()
