"""Starting twice starts one stack; stopping leaves no process behind."""

from __future__ import annotations

from tests.integration.conftest import stop_and_check


def test_second_start_reuses_the_running_stack_and_stop_leaves_nothing(start_stack):
    stack = start_stack()
    first = stack.pid()
    pool = stack.processes()

    stack.start()

    assert stack.pid() == first
    assert len(pool) >= 10, f"expected honcho, 5 processes and pool children, saw {pool}"
    stop_and_check(stack)
    assert stack.pid() is None
