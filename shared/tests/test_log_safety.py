"""Hostile input against threadline's log lines: no forged line, no secret, no slow regex, no
exception raised into the caller, and the record itself left for the handlers after ours."""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from traceback import format_exception
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert
from sqlalchemy.exc import IntegrityError
from threadline import logs, request_context
from threadline.context import TraceIds, bind, trace_ids, unbind
from threadline.database import make_engine
from werkzeug.formparser import parse_form_data
from werkzeug.test import EnvironBuilder

# A genuine text line starts with its ISO 8601 UTC time; a traceback's lines are indented.
RECORD_START = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 ")
PROCESSES = 6
FORGED = "\r\n2026-01-01T00:00:00.000+00:00 INFO    1      rid=victim task=- parent=- api: paid\x1b[2K"


class Capture(logging.Handler):
    """A handler after threadline's, as pytest's capture or an error tracker is."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[logging.LogRecord, Any, Any, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record, record.msg, record.args, record.exc_info))


@contextlib.contextmanager
def bound_ids(ids: TraceIds) -> Iterator[None]:
    token = bind(ids)
    try:
        yield
    finally:
        unbind(token)


def multipart_filename() -> str:
    # What werkzeug hands a view for an upload named with RFC 5987 encoding: CR LF decoded.
    body = (b"--b\r\nContent-Disposition: form-data; name=file; filename*=UTF-8''evil%0D%0A2026-01-01T00:00:00"
            b".000%2B00:00%20INFO%20rid=victim\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n")
    environ = EnvironBuilder(method="POST", data=body, content_type="multipart/form-data; boundary=b").get_environ()
    filename = parse_form_data(environ)[2]["file"].filename
    assert filename is not None and "\r\n" in filename
    return filename


def test_no_user_string_forges_a_text_line(tmp_path: Path, root_restored: None) -> None:
    logs.configure("safety", fmt="text", log_dir=str(tmp_path))
    log = logging.getLogger("api")
    with request_context("req-safe"):
        log.info("upload %s", multipart_filename())
        log.info("header %s", FORGED)
        log.warning(FORGED)
        logging.getLogger("celery.worker.strategy").info("Task %(name)s[%(id)s] received",
                                                        {"name": "t", "id": "evil\nid"})
        try:
            raise ValueError(f"bad value{FORGED}")
        except ValueError:
            log.exception("failed %s", FORGED)
        logging.getLogger("api").info("own IDs", extra={"request_id": "req-safe", "task_id": FORGED})
    ids = trace_ids("evil\r\n" + "x" * 20, "req-safe", FORGED)  # a task its publisher named
    with bound_ids(ids):
        logging.getLogger(f"tasks{FORGED}").info("running")
    lines = (tmp_path / "safety.log").read_text(encoding="utf-8").splitlines()
    starts = [line for line in lines if RECORD_START.match(line)]
    assert len(starts) == 7, lines
    assert all(line.startswith("  ") for line in lines if not RECORD_START.match(line)), lines
    assert all("rid=req-safe" in line for line in starts)
    assert "\x1b" not in "\n".join(lines) and "\\r\\n2026-01-01" in starts[1] and "\\x1b[2K" in starts[2]
    assert any(line.startswith("  Traceback") for line in lines)


SECRET = "hunter2-s3cr3t"


def test_secret_keys_are_masked_at_any_depth(tmp_path: Path, root_restored: None) -> None:
    logs.configure("secrets", fmt="json", log_dir=str(tmp_path), secret_fields=("card",))
    deep: Any = {"password": SECRET}
    for _ in range(30):
        deep = {"next": [deep]}
    log = logging.getLogger("api")
    log.info("headers %s", {"Authorization": f"Bearer {SECRET}", "Accept": "*/*"},
             extra={"request": {"headers": [("Authorization", f"Basic {SECRET}")],
                                "form": {"user": {"Password": SECRET, "card": SECRET}}},
                    "deep": deep, "token": SECRET})
    log.info("retrying with Authorization: Bearer %s and api_key=%s", SECRET, SECRET)
    log.info("payload %s", json.dumps({"to": 7, "body": f"Dear Jane, {SECRET} is your code"}))
    text = (tmp_path / "secrets.log").read_text(encoding="utf-8")
    assert SECRET not in text and "Dear" not in text
    first, second, third = (json.loads(line) for line in text.splitlines())
    assert third["message"] == 'payload {"to": 7, "body": "[redacted]"}'
    assert first["request"]["headers"] == [["Authorization", "[redacted]"]]
    assert first["request"]["form"]["user"] == {"Password": "[redacted]", "card": "[redacted]"}
    assert "'Accept': '*/*'" in first["message"] and first["token"] == "[redacted]"
    assert second["message"] == "retrying with Authorization: [redacted] and api_key=[redacted]"


@pytest.mark.parametrize("hostile", ["a" * 20_000 + "@" + "a" * 20_000, "a@" * 20_000, ("a." * 10_000) + "@",
                                     "@" + "a." * 20_000, "+1" + " 1" * 20_000, "(12) " * 10_000,
                                     "password=" * 5_000 + "x" * 20_000],
                         ids=["address", "at-signs", "dotted-local", "dotted-domain", "plus-digits", "groups",
                              "secret-keys"])
def test_redaction_is_linear_on_hostile_values(tmp_path: Path, root_restored: None, hostile: str) -> None:
    logs.configure("linear", fmt="json", log_dir=str(tmp_path))
    started = time.perf_counter()
    logging.getLogger("api").info("value %s", hostile, extra={"field": hostile})
    assert time.perf_counter() - started < 0.1


def test_a_bad_format_string_is_reported_not_raised(tmp_path: Path, root_restored: None,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    handler = logs.configure("bad", fmt="text", log_dir=str(tmp_path))
    # Straight to threadline's handler: pytest's own capture handler raises on logging errors.
    for msg, args in (("%d items", ("not a number",)), ("still logging", ())):
        handler.handle(logging.LogRecord("api", logging.INFO, __file__, 1, msg, args, None))
    assert "--- Logging error ---" in capsys.readouterr().err
    assert "still logging" in (tmp_path / "bad.log").read_text()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_handlers_after_threadline_see_the_record_as_logged(tmp_path: Path, root_restored: None, fmt: str) -> None:
    logs.configure("orig", fmt=fmt, log_dir=str(tmp_path))
    capture = Capture()
    logging.getLogger().addHandler(capture)
    try:
        raise KeyError("jane@example.com")
    except KeyError:
        logging.getLogger("api").exception("lookup of %s failed", "jane@example.com")
    [(record, msg, args, exc_info)] = capture.records
    assert (msg, args) == ("lookup of %s failed", ("jane@example.com",))
    assert exc_info is not None and exc_info[0] is KeyError
    assert "[redacted]" not in (record.exc_text or "") and "[redacted]" not in record.getMessage()
    assert "jane" not in (tmp_path / "orig.log").read_text()


def test_ids_already_on_a_forwarded_record_are_kept(tmp_path: Path, root_restored: None) -> None:
    logs.configure("parent", fmt="json", log_dir=str(tmp_path))
    # What a QueueHandler in a pool process sends its parent: IDs set there, message formatted.
    forwarded = logging.makeLogRecord({"name": "tl_caller", "levelno": logging.INFO, "levelname": "INFO",
                                       "msg": "from the pool", "request_id": "req-pool", "task_id": "req-pool_1",
                                       "parent_id": "-"})
    logging.getLogger(forwarded.name).handle(forwarded)
    logging.getLogger("api").info("own request ID", extra={"request_id": "req-extra"})
    first, second = (json.loads(line) for line in (tmp_path / "parent.log").read_text().splitlines())
    assert (first["request_id"], first["task_id"]) == ("req-pool", "req-pool_1")
    assert (second["request_id"], second["task_id"], second["parent_id"]) == ("req-extra", "-", "-")


def test_timestamps_carry_their_utc_offset(tmp_path: Path, root_restored: None) -> None:
    for fmt in ("text", "json"):
        logs.configure(fmt, fmt=fmt, log_dir=str(tmp_path))
        logging.getLogger("api").info("when")
    assert RECORD_START.match((tmp_path / "text.log").read_text())
    stamp = json.loads((tmp_path / "json.log").read_text())["timestamp"]
    assert RECORD_START.match(stamp + " ")


def test_switching_format_leaves_every_file_in_one_format(tmp_path: Path, root_restored: None) -> None:
    for fmt in ("text", "json", "json", "text", "json"):
        logs.configure("switch", fmt=fmt, log_dir=str(tmp_path))
        logging.getLogger("api").info("in %s", fmt)
    files = sorted(tmp_path.glob("switch*.log"))
    assert len(files) == 4
    current = [json.loads(line)["message"] for line in (tmp_path / "switch.log").read_text().splitlines()]
    assert current == ["in json"]
    for path in files:
        lines = path.read_text().splitlines()
        kinds = {line.startswith("{") for line in lines}
        assert len(kinds) == 1, (path, lines)
        if kinds == {True}:
            [json.loads(line) for line in lines]


def test_database_errors_do_not_carry_bound_values(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    table = Table("messages", MetaData(), Column("id", Integer, primary_key=True), Column("body", String))
    table.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(table).values(id=1, body="first"))
    body = " ".join(("Dear", "Jane,", "your", "results"))  # not in the traceback's source lines
    with pytest.raises(IntegrityError) as caught, engine.begin() as connection:
        connection.execute(insert(table).values(id=1, body=body))
    traceback = "".join(format_exception(caught.value))
    assert "UNIQUE constraint failed" in traceback and "Dear Jane" not in traceback


def _start_in(log_dir: str, start: Any) -> None:
    start.wait()
    logs.configure("together", fmt="json", log_dir=log_dir)
    logging.getLogger("api").info("started")
    os._exit(0)


def test_processes_switching_format_together_write_one_json_file(tmp_path: Path, root_restored: None) -> None:
    (tmp_path / "together.log").write_text("2026-01-01T00:00:00.000+00:00 INFO    1      rid=- old text line\n")
    context = multiprocessing.get_context("fork")
    start = context.Barrier(PROCESSES)
    processes = [context.Process(target=_start_in, args=(str(tmp_path), start)) for _ in range(PROCESSES)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    assert [process.exitcode for process in processes] == [0] * PROCESSES
    [aside] = [path for path in tmp_path.glob("together.*.log")]
    assert aside.name.endswith(".text.log") and "old text line" in aside.read_text()
    lines = (tmp_path / "together.log").read_text().splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["started"] * PROCESSES
