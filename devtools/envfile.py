"""Settings for the local stack: .env gives defaults, the environment wins."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load(root: Path = ROOT) -> dict[str, str]:
    """The stack's environment; creates .env from .env.example on first use."""
    env_file = root / ".env"
    if not env_file.exists():
        shutil.copyfile(root / ".env.example", env_file)
    values = parse(env_file.read_text())
    values.update(os.environ)
    return values


def parse(text: str) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments are skipped, quotes around values dropped."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values
