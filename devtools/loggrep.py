"""Every log line that contains a request ID, from every log file, merged in time order."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def matching_lines(request_id: str, log_dir: Path) -> list[tuple[str, str, str]]:
    """(timestamp, process, line) for each line containing ``request_id``, oldest first."""
    found = []
    for path in sorted(log_dir.glob("*.log")):
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if request_id in line:
                    line = line.rstrip("\n")
                    found.append((_timestamp(line), path.stem, line))
    found.sort(key=lambda item: item[0])
    return found


def _timestamp(line: str) -> str:
    # Text lines start with "YYYY-MM-DD HH:MM:SS,mmm"; JSON lines carry it in "timestamp".
    if line.startswith("{"):
        try:
            return str(json.loads(line).get("timestamp", ""))
        except ValueError:
            return ""
    return line[:23]


def main(request_id: str, log_dir: Path) -> int:
    lines = matching_lines(request_id, log_dir)
    width = max((len(process) for _, process, _ in lines), default=0)
    for _, process, line in lines:
        print(f"{process:<{width}} | {line}")
    if not lines:
        print(f"No line in {log_dir}/*.log contains {request_id!r}", file=sys.stderr)
        return 1
    return 0
