"""The Celery app the overhead benchmarks run, set up as each compared worker sets itself up.

``celery -A overhead_app worker`` with BENCH_MODE set to one of MODES, BENCH_BROKER and
BENCH_LOG (the log file). The same tasks in every mode: a no-op task that logs one line, and
a parent that logs one line and publishes three children that each log one.

- ``plain``, ``control``: Celery alone (control is plain again, to show the method's noise);
- ``traced``: threadline, logging through its handler without redaction;
- ``redacted``: threadline as a production worker runs it, redaction on;
- ``asgi``: asgi-correlation-id's Celery extension, its two log filters on the handler;
- ``otel``: OpenTelemetry's Celery instrumentation, the SDK and an in-memory span exporter;
- ``floor``: plain Celery carrying threadline's bytes (task IDs of its form and lengths, its
  log format with the ID fields as constants) and running none of its code.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from celery import Celery, signals
from threadline.ids import make_task_id, new_request_id

MODES = ("plain", "control", "traced", "redacted", "asgi", "otel", "floor")
MODE = os.environ.get("BENCH_MODE", "plain")
LINE_FORMAT = "%(asctime)s %(levelname)-7s %(process)-6d %(name)s: %(message)s"
# asgi-correlation-id's documented format, asctime first like the others: the driver reads it.
ASGI_FORMAT = ("%(asctime)s %(levelname)-7s %(process)-6d [%(correlation_id)s] "
               "[%(celery_parent_id)s-%(celery_current_id)s] %(name)s: %(message)s")
# The floor's request ID: the length of the IDs threadline generates.
FLOOR_RID = new_request_id()
log = logging.getLogger("bench")


def make_app(mode: str) -> Celery:
    app = Celery("bench")
    app.conf.update(
        broker_url=os.environ.get("BENCH_BROKER", "amqp://guest:guest@localhost:5672//"),
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_default_queue=f"bench.{mode}",
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    if mode in ("traced", "redacted"):
        from threadline import propagation

        propagation.install(app)
    elif mode == "asgi":
        from asgi_correlation_id.extensions.celery import load_celery_current_and_parent_ids, load_correlation_ids

        load_correlation_ids()
        load_celery_current_and_parent_ids()
    return app


app = make_app(MODE)


@app.task(name="bench.noop")
def noop(i: int) -> None:
    log.info("noop %s", i)


@app.task(name="bench.parent")
def parent(i: int) -> None:
    log.info("parent %s", i)
    for k in range(3):
        if MODE == "floor":
            child.apply_async((i, k), task_id=make_task_id(FLOOR_RID))
        else:
            child.delay(i, k)


@app.task(name="bench.child")
def child(i: int, k: int) -> None:
    log.info("child %s.%s", i, k)


def start_otel() -> None:
    """OpenTelemetry as its Celery instrumentation's documentation sets it up, in-memory."""
    from opentelemetry import trace
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    trace.set_tracer_provider(provider)
    CeleryInstrumentor().instrument()


@signals.worker_process_init.connect(weak=False)
def _start_tracing_in_pool(**_: Any) -> None:
    # The instrumentation's documentation: instrument each pool process once it started.
    if MODE == "otel":
        start_otel()


@signals.setup_logging.connect(weak=False)
def _setup_logging(**_: Any) -> None:
    # Every mode writes the same Celery lines to one file; the traced ones through threadline.
    path = Path(os.environ["BENCH_LOG"])
    if MODE in ("traced", "redacted"):
        from threadline import logs

        logs.configure(path.stem, fmt="text", log_dir=str(path.parent), redact=MODE == "redacted")
        return
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_line_format()))
    if MODE == "asgi":
        from asgi_correlation_id.log_filters import CeleryTracingIdsFilter, CorrelationIdFilter

        handler.addFilter(CorrelationIdFilter())
        handler.addFilter(CeleryTracingIdsFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in ("celery", "celery.task", "celery.redirected"):
        logging.getLogger(name).handlers.clear()


def _line_format() -> str:
    if MODE == "asgi":
        return ASGI_FORMAT
    if MODE != "floor":
        return LINE_FORMAT
    # threadline's text line with its three fields as constants: the same bytes per line, no
    # work per record.
    return (f"%(asctime)s %(levelname)-7s %(process)-6d rid={FLOOR_RID} task={make_task_id(FLOOR_RID)} parent=- "
            "%(name)s: %(message)s")


def publish(scenario: str, count: int) -> float:
    """Publish ``count`` messages of ``scenario`` as the mode's publisher would, as one
    request; seconds spent publishing all but the first, which opens the connection."""
    if MODE == "otel":
        start_otel()
    return _publish(scenario, count)


def serve_publishing(requests: Iterable[str], answer: TextIO) -> None:
    """``publish`` for each line of ``requests`` ("noop 2500 bench.plain": scenario, count,
    queue), its seconds on a line of ``answer``: one publisher, set up once, for a pair's many
    rounds."""
    if MODE == "otel":
        start_otel()
    for line in requests:
        scenario, count, queue = line.split()
        print(_publish(scenario, int(count), queue), file=answer, flush=True)


def _publish(scenario: str, count: int, queue: str | None = None) -> float:
    task = noop if scenario == "noop" else parent

    def send(i: int) -> None:
        task_id = make_task_id(FLOOR_RID) if MODE == "floor" else None
        task.apply_async((i,), task_id=task_id, queue=queue)

    with _as_one_request():
        send(-1)
        started = time.perf_counter()
        for i in range(count - 1):
            send(i)
        return time.perf_counter() - started


@contextlib.contextmanager
def _as_one_request() -> Iterator[None]:
    if MODE in ("traced", "redacted"):
        from threadline.context import request_context

        with request_context():
            yield
        return
    if MODE == "asgi":
        from asgi_correlation_id.context import correlation_id

        correlation_id.set(new_request_id())  # what its middleware does for a request
    yield
