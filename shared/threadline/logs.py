"""One logging set-up for every kind of process: API, worker, beat, script.

Every record gets ``request_id``, ``parent_id`` and ``task_id`` (``-`` when absent), Celery's
own records included, and is redacted before it is written. Records go to one handler on the
root logger, so propagation never writes a line twice.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from threadline import logfiles
from threadline.context import TraceIds, bound, ids_of_message, running_task_ids
from threadline.formatting import MISSING, JsonLineFormatter, TextFormatter, escape
from threadline.ids import request_id_from_task_id
from threadline.redaction import Redactor

JSON_FIELDS = "%(asctime)s %(levelname)s %(process)d %(name)s %(message)s %(request_id)s %(task_id)s %(parent_id)s"
_ID_FIELDS = ("request_id", "parent_id", "task_id")
# The loggers of the worker's main process: strategy, request, consumer, control.
_CELERY_WORKER = "celery.worker"
_HANDLER_NAME = "threadline"


class TraceFilter(logging.Filter):
    """Adds the current trace IDs to a record, escaped for a text line; in a worker's main
    process, for a line about a task it handles outside any message, takes them from the task
    ID the record carries."""

    def filter(self, record: logging.LogRecord) -> bool:
        attributes = record.__dict__
        if "request_id" in attributes:
            # Set where the record was made: a pool process's record forwarded to its parent
            # (a QueueHandler), or IDs a caller passed in ``extra``; escaped for the line here.
            for name in _ID_FIELDS:
                attributes[name] = escape(str(attributes.get(name, MISSING)))
            return True
        ids = bound()
        if ids is None:
            # Looking for a running task first would cost the main process two exceptions
            # inside Celery's task stack for each of its lines about a task.
            if record.name.startswith(_CELERY_WORKER):
                ids = _ids_from_celery_record(record)
            ids = ids or running_task_ids()
            if ids is None:
                record.request_id = record.parent_id = record.task_id = MISSING
                return True
        # Unpacked, not read by field name: each field name is a descriptor lookup, and this
        # runs for every record.
        request_id, parent_id, task_id = ids
        record.request_id = request_id
        record.parent_id = parent_id or MISSING
        record.task_id = task_id or MISSING
        return True


def _ids_from_celery_record(record: logging.LogRecord) -> TraceIds | None:
    # Revocations, terminations and the like name the task among the arguments: a dict with
    # "id" (and, for a rejected message, its headers with our header), or a tuple of a few
    # values. Messages are bound while they arrive (worker.traced_strategy).
    args = record.args
    candidates: Any = (args,) if isinstance(args, dict) else args if isinstance(args, tuple) else ()
    for value in candidates:
        if isinstance(value, dict):
            task_id = value.get("id")
            if isinstance(task_id, str):
                return ids_of_message(task_id, value)
        elif isinstance(value, str):
            request_id = request_id_from_task_id(value)
            if request_id is not None:
                return TraceIds(request_id, None, escape(value))
    return None


def configure(
    process: str,
    *,
    fmt: str | None = None,
    level: str | int | None = None,
    log_dir: str | None = None,
    secret_fields: tuple[str, ...] | None = None,
    redact: bool = True,
) -> logging.Handler:
    """Install the threadline handler on the root logger and return it.

    ``process`` names the log file (``<log_dir>/<process>.log``); without a log directory
    records go to standard error. Unset arguments come from LOG_FORMAT (text or json),
    LOG_LEVEL, LOG_DIR and LOG_SECRET_FIELDS (comma-separated). ``redact=False`` leaves
    personal data unmasked: only for processes that never log any (it costs a few
    microseconds per record). Calling it again replaces the handler it installed before.

    The handler never changes a record (it reads the text line from it, and formats a copy as
    JSON): each record reaches the handlers after it (pytest's capture, an error tracker, a
    QueueHandler) as it was logged.
    """
    fmt = (fmt or os.environ.get("LOG_FORMAT") or "text").lower()
    if fmt not in ("text", "json"):
        raise ValueError(f"LOG_FORMAT must be 'text' or 'json', not {fmt!r}")
    log_dir = log_dir if log_dir is not None else os.environ.get("LOG_DIR")
    handler = _make_handler(process, log_dir, fmt)
    handler.set_name(_HANDLER_NAME)
    redactor = Redactor(secret_fields or _env_secret_fields()) if redact else None
    handler.setFormatter(_make_formatter(fmt, handler, redactor))
    handler.addFilter(TraceFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level or os.environ.get("LOG_LEVEL", "INFO").upper())
    _let_celery_loggers_propagate()
    return handler


def _make_handler(process: str, log_dir: str | None, fmt: str) -> logging.Handler:
    if not log_dir:
        return logging.StreamHandler(sys.stderr)
    return logfiles.open_log(Path(log_dir) / f"{process}.log", fmt)


def _make_formatter(fmt: str, handler: logging.Handler, redactor: Redactor | None) -> logging.Formatter:
    if fmt == "json":
        return JsonLineFormatter(redactor, JSON_FIELDS, rename_fields={"asctime": "timestamp", "levelname": "level"})
    stream = getattr(handler, "stream", None)
    terminal = not isinstance(handler, logging.FileHandler) and stream is not None and stream.isatty()
    return TextFormatter(redactor, colour=terminal)


def _env_secret_fields() -> tuple[str, ...]:
    raw = os.environ.get("LOG_SECRET_FIELDS", "")
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def _let_celery_loggers_propagate() -> None:
    # Celery gives some of its loggers handlers of their own; one root handler is enough.
    for name in ("celery", "celery.task", "celery.redirected"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


def setup_celery_logging(process: str) -> None:
    """Let threadline, not Celery, configure logging in worker and beat processes.

    A ``--loglevel`` given to the worker or beat is honoured; without one, LOG_LEVEL decides.
    """
    from celery import signals

    def on_setup_logging(loglevel: int | None = None, **_: Any) -> None:
        configure(process, level=_chosen_level(loglevel))

    signals.setup_logging.connect(on_setup_logging, weak=False, dispatch_uid="threadline.logs")


def _chosen_level(loglevel: int | None) -> int | None:
    # Celery passes its --loglevel whether or not the command line gave one (the default is
    # WARNING): click, which parsed the command line, knows which. Without a command line (a
    # worker started from code, a pool process started fresh), a level other than Celery's
    # default was chosen by someone.
    import click
    from click.core import ParameterSource

    context = click.get_current_context(silent=True)
    if context is not None and "loglevel" in context.params:
        given = context.get_parameter_source("loglevel") not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)
        return loglevel if given else None
    return loglevel if loglevel and loglevel != logging.WARNING else None
