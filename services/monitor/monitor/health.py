"""The consumer's health check for containers: ``python -m monitor.health`` exits 0 while it beats."""

from __future__ import annotations

import sys
import time

from threadline.database import make_engine

from monitor.config import Settings
from monitor.store import latest_beat


def main() -> int:
    settings = Settings.from_env()
    with make_engine(settings.database_url).connect() as connection:
        beat = latest_beat(connection)
    return 0 if beat is not None and time.time() - beat < settings.consumer_stale_seconds else 1


if __name__ == "__main__":
    sys.exit(main())
