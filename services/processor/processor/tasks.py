"""processor.process_file: statistics of a CSV file."""

from __future__ import annotations

import csv
import logging
from typing import Any

from celery import shared_task

log = logging.getLogger(__name__)


@shared_task(name="processor.process_file")
def process_file(path: str) -> dict[str, Any]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        rows = sum(1 for _ in reader)
    log.info("Processed %s: %d rows, %d columns", path, rows, len(header))
    return {"rows": rows, "columns": header}
