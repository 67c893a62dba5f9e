"""Private stacks for tests and benchmarks: own vhost, ports, database, files and logs.

Nothing here touches a stack started by `make up`, nor one of another test session.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from devtools import envfile, rabbit

# Settings a private stack takes from the machine; everything else comes from .env.example.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
# The local PostgreSQL's maintenance database, where private databases are created.
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def private_vhost(prefix: str = "threadline-it") -> Iterator[str]:
    """A broker URL on a vhost of its own: stacks sharing a vhost would take each other's tasks."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    rabbit.add_vhost(name)
    try:
        yield f"amqp://guest:guest@localhost:5672/{name}"
    finally:
        rabbit.delete_vhost(name)


@contextmanager
def postgres_database(prefix: str = "threadline_it") -> Iterator[str]:
    """A database of its own on the local PostgreSQL, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stack_env(workdir: Path, broker_url: str, **overrides: str) -> dict[str, str]:
    """A complete environment for a stack whose state lives under ``workdir``."""
    env = envfile.fill_secrets(envfile.parse((envfile.ROOT / ".env.example").read_text()))
    env.update({key: os.environ[key] for key in PASSED_THROUGH if key in os.environ})
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    sandbox_http, sandbox_smtp, flower, monitor = free_port(), free_port(), free_port(), free_port()
    env.update(
        BROKER_URL=broker_url,
        DATABASE_URL=f"sqlite:///{workdir / 'threadline.db'}",
        FILE_STORE=str(workdir / "files"),
        LOG_DIR=str(workdir / "logs"),
        API_PORT=str(free_port()),
        FLOWER_PORT=str(flower),
        MONITOR_PORT=str(monitor),
        MONITOR_FLOWER_URL=f"http://127.0.0.1:{flower}",
        MONITOR_PUBLIC_URL=f"http://127.0.0.1:{monitor}",
        SANDBOX_HTTP_PORT=str(sandbox_http),
        SANDBOX_SMTP_PORT=str(sandbox_smtp),
        PUSH_PROVIDER_URL=f"http://127.0.0.1:{sandbox_http}/push",
        SMS_PROVIDER_URL=f"http://127.0.0.1:{sandbox_http}/sms",
        ALERT_WEBHOOK_URL=f"http://127.0.0.1:{sandbox_http}/v2/enqueue",
        MONITOR_BEAT_SCHEDULE=str(workdir / "monitor-beat-schedule"),
        SMTP_PORT=str(sandbox_smtp),
    )
    env.update(overrides)
    return env
