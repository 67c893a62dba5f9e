"""The table at the top of bench/README.md: one row per figure, rewritten by each run."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"


def write_row(name: str, command: str, figures: str) -> None:
    """Replace the row ``name`` (or add it at the end of the table) with ``command``'s
    ``figures``, the machine and today's date."""
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    row = f"| {name} | `{command}` | {figures} | {machine}, {datetime.date.today().isoformat()} |"
    lines = README.read_text().splitlines()
    if any(line.startswith(f"| {name} |") for line in lines):
        lines = [row if line.startswith(f"| {name} |") else line for line in lines]
    else:
        end = next(i for i, line in enumerate(lines) if line.startswith("| "))
        while end < len(lines) and lines[end].startswith("|"):
            end += 1
        lines.insert(end, row)
    README.write_text("\n".join(lines) + "\n")
