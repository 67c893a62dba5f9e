"""Faults of the remote processor: time limit, SIGKILL mid-file, processor down.

For this module the stack's own processor is paused and each test runs a processor of its
own (tests.integration.workers), with the settings the test needs.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from devtools.stack import Stack, poll_until
from tests.integration.test_files import csv_rows, file_status, upload, wait_finished
from tests.integration.workers import TestWorker, paused

pytestmark = pytest.mark.chaos


@pytest.fixture(scope="module")
def stack_processor_paused(stack: Stack) -> Iterator[None]:
    """While this module runs, the stack's own processor consumes nothing."""
    with paused(stack, "processor", "processor"):
        yield


@pytest.fixture
def start_processor(stack: Stack, stack_processor_paused: None) -> Iterator[Callable[..., TestWorker]]:
    """Starts the test's processors (settings as keyword arguments); stops them after it."""
    started: list[TestWorker] = []

    def start(**settings: str) -> TestWorker:
        processor = TestWorker(stack, "processor", **settings)
        started.append(processor)
        return processor.start()

    yield start
    for processor in started:
        processor.stop()


def test_file_over_the_soft_time_limit_fails_timed_out(stack, start_processor):
    start_processor(PROCESSOR_SOFT_TIME_LIMIT="2", PROCESSOR_MAX_ROWS_PER_SECOND="200")

    response = upload(stack, "it-file-slow", csv_rows(2000))
    record = wait_finished(stack, response.json()["file_id"])

    assert record["status"] == "failed"
    assert record["error"] == "timed out after 2 s"
    assert 0 < record["progress"]["rows"] < 2000


def test_processor_killed_mid_file_is_redelivered_and_the_file_succeeds_once(stack, start_processor):
    processor = start_processor(PROCESSOR_MAX_ROWS_PER_SECOND="300")
    response = upload(stack, "it-file-kill", csv_rows(1500))
    file_id = response.json()["file_id"]

    running = poll_until(lambda: _processing(stack, file_id), "progress reported while processing", timeout=60)
    os.kill(_only(processor.pool()), signal.SIGKILL)
    record = wait_finished(stack, file_id, timeout=120)

    assert 0 < running["progress"]["rows"] < 1500 and 0 < running["progress"]["percent"] < 100
    assert record["status"] == "succeeded", record
    assert record["result"]["rows"] == 1500
    assert _count_lines(stack, "processor", "it-file-kill", "Processing ") == 2
    time.sleep(2)  # a duplicate callback, were there one, would be on the queue by now
    assert _count_lines(stack, "api-worker", "it-file-kill", f"File {file_id} succeeded") == 1


def test_file_that_keeps_crashing_the_processor_fails_as_crashed(stack, start_processor):
    processor = start_processor(PROCESSOR_MAX_ROWS_PER_SECOND="300", PROCESSOR_MAX_ATTEMPTS="1")
    file_id = upload(stack, "it-file-crash", csv_rows(1500)).json()["file_id"]

    poll_until(lambda: _processing(stack, file_id), "progress reported while processing", timeout=60)
    os.kill(_only(processor.pool()), signal.SIGKILL)
    record = wait_finished(stack, file_id, timeout=120)

    assert record["status"] == "failed"
    assert record["error"] == "processor crashed once on this file; giving up"


def test_files_wait_while_the_processor_is_down_and_complete_when_it_returns(stack, start_processor):
    down = upload(stack, "it-file-down", "a,b\n1,2\n")
    sync = upload(stack, "it-file-down-sync", "a,b\n1,2\n", validate="sync")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert file_status(stack, down.json()["file_id"])["status"] == "pending"
        time.sleep(0.5)

    assert sync.status_code == 504
    assert "did not check the file within" in sync.json()["error"]
    start_processor()
    record = wait_finished(stack, down.json()["file_id"])
    assert record["status"] == "succeeded"
    assert record["result"]["rows"] == 1


def _only(pool: list[int]) -> int:
    assert len(pool) == 1, f"expected one pool process (-c 1), found {pool}"
    return pool[0]


def _processing(stack: Stack, file_id: int) -> dict | None:
    record = file_status(stack, file_id)
    return record if record["status"] == "processing" and record["progress"]["rows"] > 0 else None


def _count_lines(stack: Stack, process: str, request_id: str, text: str) -> int:
    lines = (stack.log_dir / f"{process}.log").read_text().splitlines()
    return sum(1 for line in lines if f"rid={request_id} " in line and text in line)
