"""The whole stack, started for real for the integration tests and stopped after them.

Each test session gets its own RabbitMQ vhost, ports, database, file store and log
directory, so it never depends on or disturbs a stack started by `make up`.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools import envfile, rabbit
from devtools.stack import Stack, is_alive
from tests.integration.notifications import FAST_RETRIES, postgres_database, private_vhost

# Settings a test stack takes from the machine; everything else comes from .env.example.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def vhost() -> Iterator[str]:
    name = f"threadline-it-{uuid.uuid4().hex[:8]}"
    rabbit.add_vhost(name)
    yield name
    rabbit.delete_vhost(name)


def stack_env(workdir: Path, vhost: str, **overrides: str) -> dict[str, str]:
    """A complete environment for a private stack under ``workdir``."""
    env = envfile.parse((envfile.ROOT / ".env.example").read_text())
    env.update({key: os.environ[key] for key in PASSED_THROUGH if key in os.environ})
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        BROKER_URL=f"amqp://guest:guest@localhost:5672/{vhost}",
        DATABASE_URL=f"sqlite:///{workdir / 'threadline.db'}",
        FILE_STORE=str(workdir / "files"),
        LOG_DIR=str(workdir / "logs"),
        API_PORT=str(free_port()),
        FLOWER_PORT=str(free_port()),
    )
    sandbox_http, sandbox_smtp = free_port(), free_port()
    env.update(
        SANDBOX_HTTP_PORT=str(sandbox_http),
        SANDBOX_SMTP_PORT=str(sandbox_smtp),
        PUSH_PROVIDER_URL=f"http://127.0.0.1:{sandbox_http}/push",
        SMS_PROVIDER_URL=f"http://127.0.0.1:{sandbox_http}/sms",
        SMTP_PORT=str(sandbox_smtp),
    )
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def start_stack(tmp_path_factory: pytest.TempPathFactory, vhost: str) -> Iterator[object]:
    """A factory for private stacks; every stack it started is stopped at the end."""
    started: list[Stack] = []

    def start(**overrides: str) -> Stack:
        workdir = tmp_path_factory.mktemp("stack")
        stack = Stack(stack_env(workdir, vhost, **overrides), workdir / "run")
        started.append(stack)
        stack.start(timeout=180)
        return stack

    yield start
    for stack in started:
        stop_and_check(stack)


def stop_and_check(stack: Stack) -> None:
    """Stop ``stack`` and fail if any of its processes survived."""
    pids = stack.processes()
    stack.stop()
    survivors = [pid for pid in pids if is_alive(pid)]
    assert not survivors, f"processes left behind: {survivors}"


@pytest.fixture(scope="session")
def stack(start_stack) -> Stack:  # type: ignore[no-untyped-def]
    """The stack most tests share, with default settings."""
    return start_stack()


@pytest.fixture(scope="session")
def pg_stack(start_stack) -> Iterator[Stack]:  # type: ignore[no-untyped-def]
    """A stack on PostgreSQL with short notifier retries, for API and fault tests."""
    with postgres_database() as url, private_vhost() as broker_url:
        stack = start_stack(DATABASE_URL=url, BROKER_URL=broker_url, **FAST_RETRIES)
        yield stack
        stop_and_check(stack)  # before its database and vhost go


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """A failing test explains itself: print the tail of every log of the stacks it used."""
    yield
    report = getattr(request.node, "report_call", None)
    if report is None or not report.failed:
        return
    for name in ("stack", "pg_stack"):
        if name in request.fixturenames:
            print_log_tails(request.getfixturevalue(name))


def print_log_tails(stack: Stack, lines: int = 40) -> None:
    for path in sorted(stack.log_dir.glob("*")):
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        print(f"===== {path.name} (last {len(tail)} lines) =====", *tail, sep="\n")
