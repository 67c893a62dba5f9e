"""The whole stack, started for real for the integration tests and stopped after them.

Each stack gets its own RabbitMQ vhost, ports, database, file store and log directory, so it
never depends on or disturbs a stack started by `make up`, nor another test's stack.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.envfile import ROOT
from devtools.private_rabbit import PrivateRabbit
from devtools.private_stack import postgres_database, private_vhost, stack_env
from devtools.stack import Stack, is_alive
from tests.integration.notifications import FAST_RETRIES


@pytest.fixture(scope="session")
def start_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A factory for private stacks, each on a vhost of its own unless BROKER_URL is given;
    every stack it started is stopped, and checked to leave nothing behind, at the end."""
    with contextlib.ExitStack() as cleanup:

        def start(procfile: Path = ROOT / "Procfile", **overrides: str) -> Stack:
            workdir = tmp_path_factory.mktemp("stack")
            broker_url = overrides.pop("BROKER_URL", None) or cleanup.enter_context(private_vhost())
            stack = Stack(stack_env(workdir, broker_url, **overrides), workdir / "run", procfile)
            cleanup.callback(stop_and_check, stack)
            stack.start(timeout=180)
            return stack

        yield start


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
    """A stack on PostgreSQL with short notifier retries, for API and fault tests; an upload
    limit small enough to pass in a test (8 MB, above the 4 MB refused JSON body that must be
    read to its end), and Flower not told where to listen."""
    with postgres_database() as url:
        stack = start_stack(DATABASE_URL=url, API_MAX_UPLOAD_BYTES="8000000", FLOWER_HOST="", **FAST_RETRIES)
        yield stack
        stop_and_check(stack)  # before its database and vhost go


@pytest.fixture
def rabbit_and_stack(tmp_path, start_stack):  # type: ignore[no-untyped-def]
    """A private RabbitMQ node, which the test may stop or alarm, and a stack on it."""
    node = PrivateRabbit(tmp_path / "rabbit")
    node.start()
    stack = None
    try:
        stack = start_stack(BROKER_URL=node.url, **FAST_RETRIES)
        yield node, stack
    finally:
        if stack is not None:
            stop_and_check(stack)
        node.stop()


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
