"""threadline.logs in one process: formats, fields, redaction and no duplicated lines."""

from __future__ import annotations

import io
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from threadline import logs, request_context


def emit(tmp_path: Path, fmt: str) -> list[str]:
    logs.configure("unit", fmt=fmt, log_dir=str(tmp_path), secret_fields=("card",))
    logs.configure("unit", fmt=fmt, log_dir=str(tmp_path), secret_fields=("card",))  # twice: still one handler
    celery_logger = logging.getLogger("celery.app.trace")
    with request_context("req-logs"):
        celery_logger.info("mail %s at %s", "jane.doe@example.com", "+44 20 7946 0958",
                           extra={"card": "4111", "note": "call 020 7946 0958", "data": {"to": "a@b.io"}})
    logging.getLogger("plain").warning("outside")
    try:
        raise ValueError("bad address bob@example.org")
    except ValueError:
        logging.getLogger("plain").exception("failed")
    return (tmp_path / "unit.log").read_text(encoding="utf-8").splitlines()


def test_text_lines_carry_ids_once_and_redacted(tmp_path: Path, root_restored: None) -> None:
    lines = emit(tmp_path, "text")
    text = "\n".join(lines)
    assert "rid=req-logs task=- parent=-" in lines[0] and "mail [redacted] at [redacted]" in lines[0]
    assert sum("mail" in line for line in lines) == 1
    assert "rid=- " in lines[1]
    assert "jane" not in text and "bob@" not in text and "7946" not in text and "Traceback" in text


def test_a_text_line_holds_each_field_in_its_place() -> None:
    from threadline.formatting import TextFormatter

    record = logging.LogRecord("celery.app.trace", logging.WARNING, __file__, 1, "sent %s", ("x",), None)
    record.created, record.process = 1767225600.1239, 42  # 2026-01-01T00:00:00.1239 UTC
    record.request_id, record.task_id, record.parent_id = "req-1", "req-1_task", "-"
    assert TextFormatter(None).format(record) == (
        "2026-01-01T00:00:00.123+00:00 WARNING 42     rid=req-1 task=req-1_task parent=- celery.app.trace: sent x")


def test_stack_and_cached_traceback_follow_the_line_indented_and_redacted(tmp_path: Path, root_restored: None) -> None:
    logs.configure("unit", fmt="text", log_dir=str(tmp_path))
    logging.getLogger("plain").info("here", stack_info=True)
    cached = logging.LogRecord("plain", logging.ERROR, __file__, 1, "failed", None, None)
    cached.exc_text = "Traceback (most recent call last):\nValueError: bad address bob@example.org"
    logging.getLogger("plain").handle(cached)
    lines = (tmp_path / "unit.log").read_text(encoding="utf-8").splitlines()
    assert lines[0].endswith("plain: here") and lines[1] == "  Stack (most recent call last):"
    assert lines[-2:] == ["  Traceback (most recent call last):", "  ValueError: bad address [redacted]"]
    assert all(line.startswith("  ") for line in lines[1:-3])


def test_a_terminal_gets_lines_coloured_by_level(root_restored: None, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(stream, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys, "stderr", stream)
    logs.configure("unit", fmt="text", log_dir="")
    logging.getLogger("plain").warning("careful")
    logging.getLogger("plain").info("fine")
    warning, info = stream.getvalue().splitlines()
    assert warning.startswith("\x1b[33m") and warning.endswith("plain: careful\x1b[0m")
    assert info.startswith("\x1b[32m")


def test_json_has_the_same_fields_and_redacts_extras(tmp_path: Path, root_restored: None) -> None:
    records = [json.loads(line) for line in emit(tmp_path, "json")]
    first = records[0]
    for field in ("timestamp", "level", "process", "name", "message", "request_id", "task_id", "parent_id"):
        assert field in first
    assert (first["request_id"], first["task_id"], first["parent_id"]) == ("req-logs", "-", "-")
    assert first["card"] == "[redacted]" and first["note"] == "call [redacted]"
    assert first["data"] == {"to": "[redacted]"}
    assert len(records) == 3 and "bob@" not in records[2]["exc_info"]


def test_celery_record_without_context_takes_ids_from_the_task_id(tmp_path: Path, root_restored: None) -> None:
    logs.configure("main", fmt="json", log_dir=str(tmp_path))
    task_id = "req-main_" + "0" * 8 + "-0000-4000-8000-" + "0" * 12
    logging.getLogger("celery.worker.strategy").info("Task %(name)s[%(id)s] received", {"name": "t", "id": task_id})
    [record] = [json.loads(line) for line in (tmp_path / "main.log").read_text().splitlines()]
    assert (record["request_id"], record["task_id"]) == ("req-main", task_id)


def test_bad_log_format_fails_fast() -> None:
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logs.configure("x", fmt="xml")


def test_a_workers_loglevel_wins_over_log_level(stack: Any) -> None:
    # LOG_LEVEL is INFO in the stack's environment; the command line asks for DEBUG.
    worker = stack.start([sys.executable, "-m", "celery", "-A", "tl_caller", "worker", "-P", "solo", "-Q", "caller",
                          "-n", "loglevel@%h", "-l", "DEBUG", "--without-gossip", "--without-mingle"],
                         process="loglevel", ready=" ready.")
    try:
        debug = stack.logs.wait_for("loglevel", lambda r: r["level"] == "DEBUG", "a DEBUG line")
    finally:
        stack.stop(worker)
    assert debug
