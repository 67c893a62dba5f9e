"""ID validation and task-ID parsing, as properties; and the worker validating headers again."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from threadline import ids
from threadline.ids import (
    is_valid_request_id,
    make_task_id,
    new_request_id,
    request_id_for_task,
    request_id_from_task_id,
    request_id_or_new,
)

VALID = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", min_size=1,
                max_size=64)


@given(VALID)
def test_valid_ids_are_kept(value: str) -> None:
    assert is_valid_request_id(value) and request_id_or_new(value) == value


@given(st.one_of(st.text(), st.binary(), st.integers(), st.none()))
def test_anything_else_is_never_returned_raw(value: object) -> None:
    result = request_id_or_new(value)
    assert is_valid_request_id(result)
    if not is_valid_request_id(value):
        assert result != value
    for char in ("\r", "\n", "\x1b", " "):
        assert char not in result


SUFFIX = re.compile(r"[-.0-9A-Za-z]{20}")
# Request IDs that end like a task ID of either form: parsing must still split at the suffix.
SUFFIX_LIKE = st.one_of(st.from_regex(SUFFIX, fullmatch=True), st.uuids().map(str))
TRICKY = st.one_of(VALID, st.builds(lambda a, b: f"{a}_{b}"[:64], VALID, SUFFIX_LIKE))


@given(TRICKY)
def test_task_ids_parse_back_to_their_request_id(rid: str) -> None:
    task_id = make_task_id(rid)
    assert request_id_from_task_id(task_id) == rid
    assert task_id.startswith(f"{rid}_") and SUFFIX.fullmatch(task_id[len(rid) + 1:])


@given(TRICKY)
def test_task_ids_made_before_the_short_suffix_still_parse(rid: str) -> None:
    assert request_id_from_task_id(f"{rid}_{uuid.uuid4()}") == rid


def test_generated_ids_are_short_and_a_task_id_is_no_longer_than_celerys() -> None:
    rid = new_request_id()
    assert re.fullmatch(r"[0-9a-v]{16}", rid)
    # A plain Celery task ID is str(uuid4()), 36 characters; RabbitMQ's cost grows with them.
    assert len(make_task_id(rid)) == 37 and is_valid_request_id(make_task_id(rid))
    assert len({new_request_id() for _ in range(10_000)}) == 10_000
    assert len({make_task_id(rid) for _ in range(10_000)}) == 10_000


def test_task_ids_sort_in_the_order_they_were_made(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(1_700_000_000_000, 1_700_000_000_000 + 1_000_000_000 * 50, 1_000_000))
    monkeypatch.setattr(ids.time, "time_ns", lambda: next(clock))
    made = [make_task_id("demo-42") for _ in range(50)]
    assert sorted(made) == made


@given(st.text())
@example("a_b_" + "0" * 20)
def test_parsing_never_yields_an_invalid_id(task_id: str) -> None:
    parsed = request_id_from_task_id(task_id)
    assert parsed is None or (is_valid_request_id(parsed) and task_id.startswith(parsed + "_"))


@given(st.text(), st.one_of(st.text(), st.none()))
def test_worker_side_id_is_valid_and_deterministic(task_id: str, header: str | None) -> None:
    rid = request_id_for_task(task_id, header)
    assert is_valid_request_id(rid) and rid == request_id_for_task(task_id, header)
    if not is_valid_request_id(header):
        assert rid != header


@pytest.mark.parametrize("bad", ["evil\r\nINJECTED line", "\x1b[2JINJECTED", "INJECTED" * 10, "INJECTED\u2028é"])
def test_worker_replaces_an_ill_formed_header(stack: Any, caller: Any, bad: str) -> None:
    # Published with kombu directly: threadline's publish hook would have fixed the header.
    task_id = str(uuid.uuid4())
    message = caller.app.amqp.as_task_v2(task_id, "tl_caller.echo", args=("raw",))
    headers = {**message.headers, "request_id": bad}
    with caller.app.producer_or_acquire() as producer:
        producer.publish(message.body, exchange="", routing_key="caller", headers=headers, serializer="json",
                         **message.properties)
    stack.logs.wait_for("caller", lambda r: f"[{task_id}] succeeded" in r["message"], "raw message handled")
    records = stack.logs.of_task("caller", task_id)
    rids = {r["request_id"] for r in records}
    assert len(rids) == 1 and is_valid_request_id(rids.pop())
    assert "INJECTED" not in stack.logs.text("caller")
