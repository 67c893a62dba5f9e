"""Every publish path carries the request ID to a real prefork worker, and Celery's results,
retries, canvas and callbacks behave as they do without threadline."""

from __future__ import annotations

import re
from typing import Any

from celery import chain, chord, group
from threadline import request_context
from threadline.ids import is_valid_request_id

TIMEOUT = 90


def lines(stack: Any, task_id: str, count: int = 1, what: str = "") -> list[dict[str, Any]]:
    return stack.logs.wait_for("caller", lambda r: r["task_id"] == task_id or task_id in r["message"],
                               what or f"lines of {task_id}", count=count)


def wait_succeeded(stack: Any, task_id: str) -> list[dict[str, Any]]:
    stack.logs.wait_for("caller", lambda r: f"[{task_id}] succeeded" in r["message"], f"{task_id} succeeded")
    return stack.logs.of_task("caller", task_id)


def assert_all_carry(records: list[dict[str, Any]], rid: str) -> None:
    assert records
    bad = [r for r in records if r["request_id"] != rid]
    assert not bad, bad


def test_task_ids_start_with_the_request_id_and_every_line_carries_it(stack: Any, caller: Any) -> None:
    with request_context("req-direct.1") as ids:
        results = [caller.echo.delay("a"), caller.echo.apply_async(("b",)),
                   caller.app.send_task("tl_caller.echo", args=["c"]), caller.echo.s("d").apply_async()]
    assert [r.get(timeout=TIMEOUT) for r in results] == ["a", "b", "c", "d"]
    for result in results:
        assert re.fullmatch(rf"{ids.request_id}_[-.0-9A-Za-z]{{20}}", result.id)
        records = wait_succeeded(stack, result.id)
        # The main process's "received" line and the pool child's lines, each exactly once.
        messages = [r["message"] for r in records]
        assert sum("Task tl_caller.echo[" in m and "received" in m for m in messages) == 1, messages
        assert sum("succeeded in" in m for m in messages) == 1, messages
        assert len({r["process"] for r in records}) == (2 if stack.pool == "prefork" else 1)
        assert_all_carry(records, ids.request_id)


def test_the_worker_binds_a_tasks_ids_while_it_runs(stack: Any, caller: Any) -> None:
    with request_context("req-bound") as ids:
        result = caller.bound_ids.delay()
    assert result.get(timeout=TIMEOUT) == [ids.request_id, None, result.id, ids.request_id]


def test_explicit_task_id_is_respected(stack: Any, caller: Any) -> None:
    with request_context("req-explicit"):
        result = caller.echo.apply_async(("x",), task_id="my-own-id")
    assert result.id == "my-own-id" and result.get(timeout=TIMEOUT) == "x"
    assert_all_carry(wait_succeeded(stack, "my-own-id"), "req-explicit")


def test_outside_any_request_a_fresh_id_per_publish(stack: Any, caller: Any) -> None:
    first, second = caller.echo.delay(1), caller.echo.delay(2)
    rids = {r.id.rsplit("_", 1)[0] for r in (first, second)}
    assert len(rids) == 2 and all(is_valid_request_id(rid) for rid in rids)
    for result in (first, second):
        result.get(timeout=TIMEOUT)
        assert_all_carry(wait_succeeded(stack, result.id), result.id.rsplit("_", 1)[0])


def test_children_at_depth_carry_request_id_and_parent(stack: Any, caller: Any) -> None:
    with request_context("req-depth"):
        caller.spawn.delay(3)
    records = stack.logs.wait_for("caller", lambda r: r["message"] == "spawn at depth 0", "depth 0")
    chain_of = {}
    for depth in range(4):
        [line] = stack.logs.wait_for("caller", lambda r, d=depth: r["message"] == f"spawn at depth {d}"
                                     and r["request_id"] == "req-depth", f"depth {depth}")
        chain_of[depth] = line
    for depth in range(3):  # spawn(3) publishes spawn(2), which publishes spawn(1), ...
        assert chain_of[depth]["parent_id"] == chain_of[depth + 1]["task_id"]
    assert records[0]["request_id"] == "req-depth"


def test_canvas_results_and_ids(stack: Any, caller: Any) -> None:
    with request_context("req-canvas"):
        g = group(caller.add.s(i, i) for i in range(3)).apply_async()
        c = chain(caller.add.s(1, 2), caller.add.s(10), caller.add.s(100)).apply_async()
        ch = chord((caller.add.s(i, 1) for i in range(3)), caller.total.s()).apply_async()
    assert g.get(timeout=TIMEOUT) == [0, 2, 4]
    assert c.get(timeout=TIMEOUT) == 113
    assert ch.get(timeout=TIMEOUT) == 6
    ids = [r.id for r in g.results] + [c.id, c.parent.id, c.parent.parent.id] + [r.id for r in ch.parent.results]
    ids.append(ch.id)
    for task_id in ids:
        assert_all_carry(wait_succeeded(stack, task_id), "req-canvas")


def test_link_and_link_error_callbacks(stack: Any, caller: Any) -> None:
    with request_context("req-links"):
        ok = caller.echo.apply_async(("linked",), link=caller.echo.s())
        bad = caller.fail.apply_async(("boom",), link_error=caller.on_error.s())
    assert ok.get(timeout=TIMEOUT) == "linked"
    callback = stack.logs.wait_for("caller", lambda r: r["message"] == "echo linked" and r["task_id"] != ok.id,
                                   "link callback")
    errback = stack.logs.wait_for("caller", lambda r: r["message"] == f"errback for {bad.id}", "link_error callback")
    assert callback[0]["request_id"] == errback[0]["request_id"] == "req-links"
    assert callback[0]["parent_id"] == ok.id and errback[0]["parent_id"] == bad.id
    assert bad.state == "FAILURE" and isinstance(bad.result, ValueError)


def test_retries_keep_task_id_and_request_id_in_every_line(stack: Any, caller: Any) -> None:
    with request_context("req-retry"):
        auto = caller.auto_retry.delay(2)
        manual = caller.self_retry.delay(2)
    assert auto.get(timeout=TIMEOUT) == "done after 2"
    assert manual.get(timeout=TIMEOUT) == "done after 2"
    for result in (auto, manual):
        records = wait_succeeded(stack, result.id)
        messages = [r["message"] for r in records]
        assert sum("received" in m for m in messages) == 3, messages
        assert sum(" retry: Retry in 1s" in m for m in messages) == 2, messages
        assert sum("succeeded in" in m for m in messages) == 1, messages
        assert {r["task_id"] for r in records} == {result.id}
        assert_all_carry(records, "req-retry")


def test_countdown_runs_later_with_the_same_ids(stack: Any, caller: Any) -> None:
    with request_context("req-eta"):
        result = caller.echo.apply_async(("later",), countdown=3)
    assert result.get(timeout=TIMEOUT) == "later"
    records = wait_succeeded(stack, result.id)
    received = next(r for r in records if "received" in r["message"])
    done = next(r for r in records if "succeeded" in r["message"])
    assert "'eta'" in str(received) or "eta" in received["message"]
    assert_all_carry(records, "req-eta")
    assert done["timestamp"] > received["timestamp"]
