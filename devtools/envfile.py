"""Settings for the local stack: .env gives defaults, the environment wins.

.env is created from .env.example on first use (by `make up`, with or without Docker), and
each secret left empty there gets a random value of its own: no installation runs on a
password that everyone who read this repository knows.

    python -m devtools.envfile    # create .env if it is missing
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The secrets and the shape of their values; "{}" is replaced by a random token.
SECRETS = {"FLOWER_BASIC_AUTH": "threadline:{}", "RABBITMQ_PASSWORD": "{}", "POSTGRES_PASSWORD": "{}"}


def load(root: Path = ROOT) -> dict[str, str]:
    """The stack's environment; creates .env from .env.example on first use."""
    values = parse(ensure(root).read_text())
    values.update(os.environ)
    return values


def ensure(root: Path = ROOT) -> Path:
    """``root``/.env, created from .env.example with fresh secrets when it is missing."""
    env_file = root / ".env"
    if not env_file.exists():
        lines = [_with_secret(line) for line in (root / ".env.example").read_text().splitlines()]
        env_file.write_text("\n".join(lines) + "\n")
        env_file.chmod(0o600)
    return env_file


def fill_secrets(values: dict[str, str]) -> dict[str, str]:
    """``values`` with every empty secret given a random value."""
    return {**values, **{key: shape.format(secrets.token_urlsafe(18))
                         for key, shape in SECRETS.items() if not values.get(key)}}


def _with_secret(line: str) -> str:
    key, sep, value = line.partition("=")
    if sep and key in SECRETS and not value.strip():
        return f"{key}={SECRETS[key].format(secrets.token_urlsafe(18))}"
    return line


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


if __name__ == "__main__":
    print(f"Settings in {ensure()}")
