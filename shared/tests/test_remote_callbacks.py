"""Error callbacks across codebases: two apps sharing no code, each with its own worker."""

from __future__ import annotations

import json
from typing import Any

from threadline import request_context
from threadline.callbacks import remote_errback


def probe_calls(stack: Any, marker: str) -> list[dict[str, Any]]:
    return [r for r in stack.logs.records("caller") if r["message"].startswith("errback_probe args=")
            and marker in r["message"]]


def test_without_the_helper_the_errback_gets_the_task_id_not_the_error(stack: Any, caller: Any,
                                                                        remote_worker: Any) -> None:
    with request_context("req-plain-errback"):
        sent = caller.app.send_task("remote.fail", args=["plain"],
                                    link_error=caller.errback_probe.s("plain-tag").set(queue="caller"))
    # Celery 5.5.3 cannot import the errback on the remote worker (NotRegistered), so it
    # publishes it as an old-style errback: called with the failed task's ID, the error lost.
    [call] = stack.logs.wait_for("caller", lambda r: "plain-tag" in r["message"] and "errback_probe" in r["message"],
                                 "plain errback")
    args = json.loads(call["message"].split("=", 1)[1])
    assert args == [sent.id, "plain-tag"]


def test_without_a_queue_the_errback_lands_on_the_remote_worker_unregistered(stack: Any, caller: Any,
                                                                             remote_worker: Any) -> None:
    with request_context("req-lost-errback"):
        caller.app.send_task("remote.fail", args=["lost"], link_error=caller.errback_probe.s("lost-tag"))
    [line] = stack.logs.wait_for("remote", lambda r: "unregistered task" in r["message"]
                                 and "tl_caller.errback_probe" in r["message"], "NotRegistered on the remote")
    assert line["request_id"] == "req-lost-errback"
    assert not probe_calls(stack, "lost-tag")


def test_remote_errback_runs_on_the_callers_worker_once_with_the_error(stack: Any, caller: Any,
                                                                      remote_worker: Any) -> None:
    with request_context("req-remote-errback"):
        sent = caller.app.send_task(
            "remote.fail", args=["helped"],
            link_error=remote_errback(caller.errback_probe.s("helped-tag").set(queue="caller")),
        )
    [call] = stack.logs.wait_for("caller", lambda r: "helped-tag" in r["message"] and "errback_probe" in r["message"],
                                 "forwarded errback")
    failure, tag = json.loads(call["message"].split("=", 1)[1])
    assert tag == "helped-tag"
    assert failure == {"task_id": sent.id, "task_name": "remote.fail", "exc_type": "RuntimeError",
                       "exc_message": "remote could not handle helped"}
    assert call["request_id"] == "req-remote-errback"
    remote_lines = stack.logs.of_task("remote", sent.id)
    assert remote_lines and all(r["request_id"] == "req-remote-errback" for r in remote_lines)
    # Exactly once, even after the remote worker had time to misbehave.
    stack.logs.wait_for("caller", lambda r: call["task_id"] in r["message"] and "succeeded" in r["message"],
                        "errback finished")
    assert len(probe_calls(stack, "helped-tag")) == 1
