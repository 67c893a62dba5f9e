"""`make grep RID=...`: whole request IDs only, and a record's traceback with it."""

from __future__ import annotations

import uuid

from devtools import loggrep
from devtools.stack import poll_until
from tests.integration.support import MESSAGE_WORKFLOW, post_message, wait_for_tasks
from tests.integration.test_files import make_grep, upload, wait_finished

TEXT_LINES = """\
2026-12-01 10:00:00,001 INFO    11 rid=demo-4 task=- parent=- api: accepted
2026-12-01 10:00:00,002 INFO    11 rid=demo-42 task=- parent=- api: accepted
2026-12-01 10:00:00,003 ERROR   12 rid=demo-4 task=demo-4_0f8fad5b-d9cb-469f-a165-70867728950e parent=- x: failed
Traceback (most recent call last):
  File "x.py", line 1, in <module>
ValueError: boom
2026-12-01 10:00:00,004 INFO    12 rid=demo-42 task=demo-42_0f8fad5b-d9cb-469f-a165-70867728950e parent=- x: ok
{"timestamp": "2026-12-01 10:00:00,005", "message": "json", "request_id": "demo-4", "task_id": "-"}
{"timestamp": "2026-12-01 10:00:00,006", "message": "json", "request_id": "demo-4.1", "task_id": "-"}
2026-12-01 10:00:00,007 INFO    13 rid=other task=- parent=- x: waiting for demo-4_-O7B3fXy5ikRCs8EgA0k
2026-12-01 10:00:00,008 INFO    13 rid=demo-4_x task=demo-4_x_-O7B3fXy5ikRCs8EgA0k parent=- x: another request
"""


def test_a_request_id_does_not_match_a_longer_one_and_keeps_its_traceback(tmp_path):
    (tmp_path / "worker.log").write_text(TEXT_LINES)

    lines = [line for _, _, line in loggrep.matching_lines("demo-4", tmp_path)]

    assert len(lines) == 7 and "waiting for demo-4_" in lines[-1]
    assert not any("demo-42" in line or "demo-4.1" in line for line in lines)
    assert lines[2:5] == ["Traceback (most recent call last):", '  File "x.py", line 1, in <module>',
                          "ValueError: boom"]


def test_make_grep_on_the_stack_finds_one_request_and_its_task_traceback(stack):
    short = f"it-grep-{uuid.uuid4().hex[:6]}"
    longer = f"{short}2"
    for request_id in (short, longer):
        assert post_message(stack, request_id).status_code == 202
        wait_for_tasks(stack, request_id, MESSAGE_WORKFLOW)
    assert all(longer not in line for _, line in make_grep(stack, short))

    # A malformed file fails its task; Celery logs the failure with its traceback.
    bad = f"{short}-bad"
    wait_finished(stack, upload(stack, bad, "a,b\n1,2,3\n").json()["file_id"])

    def processor_traceback() -> list[str] | None:
        lines = [line for process, line in make_grep(stack, bad) if process == "processor"]
        return lines if "Traceback (most recent call last):" in lines else None

    lines = poll_until(processor_traceback, "the failed task's traceback in make grep")
    assert any("MalformedFile" in line for line in lines[lines.index("Traceback (most recent call last):"):])
