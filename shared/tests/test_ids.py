"""ID validation and task-ID parsing, as properties; and the worker validating headers again."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from threadline.ids import (
    is_valid_request_id,
    make_task_id,
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


@given(VALID)
def test_task_ids_parse_back_to_their_request_id(rid: str) -> None:
    assert request_id_from_task_id(make_task_id(rid)) == rid


@given(st.text())
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
