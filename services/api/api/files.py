"""POST /api/files/: store a CSV upload and have the remote processor work on it; GET its status.

The processor is another codebase: it is called by task name and answers through the API's
own callback tasks (``api.callbacks``), which it cannot import. With ``?validate=sync`` the
header is first checked by the processor while the client waits (see ``HeaderCheck``).
"""

from __future__ import annotations

import logging
import threading
import uuid
from pathlib import Path
from typing import Any

from celery import Celery
from celery.exceptions import TimeoutError as ResultTimeout
from flask import Blueprint, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState
from threadline import current, propagation, publishing
from threadline.conf import celery_config
from werkzeug.exceptions import RequestEntityTooLarge

from api.callbacks import finite_numbers
from api.db import File, get_or_404
from api.errors import ApiError
from api.processor_client import publish_file
from api.requests_json import check_text

log = logging.getLogger(__name__)
bp = Blueprint("files", __name__, url_prefix="/api/files")
CSV_TYPES = frozenset({"text/csv", "application/csv", "text/plain", "application/vnd.ms-excel"})
# What clients such as curl send when they don't know the type; accepted for a .csv name.
GENERIC_TYPE = "application/octet-stream"


class HeaderCheck:
    """A synchronous call to ``processor.check_header`` that waits at most ``timeout`` seconds.

    It has a Celery client of its own because it is the API's only call that reads a result:
    the rpc:// backend (RESULT_BACKEND) sends the answer back over the broker to this process's
    reply queue, so no result store runs beside the broker, and the callback workflow keeps
    storing no results at all. The task expires with the wait, so a processor that comes back
    later does not check a file nobody waits for.

    Each thread of a gunicorn gthread worker gets a client of its own: the rpc:// backend
    reads its reply queue on one connection, which threads cannot share.
    """

    def __init__(self, broker_url: str, backend_url: str, timeout: int) -> None:
        self.timeout = timeout
        self.broker_url, self.backend_url = broker_url, backend_url
        self._local = threading.local()

    def _client(self) -> Celery:
        client: Celery | None = getattr(self._local, "client", None)
        if client is None:
            client = Celery("api-header-check", set_as_current=False)
            client.conf.update(celery_config(self.broker_url, ("processor",)))
            client.conf.update(result_backend=self.backend_url, task_routes={"processor.*": {"queue": "processor"}})
            self._local.client = propagation.install(client)
        return client

    def __call__(self, path: str) -> list[str]:
        try:
            result = publishing.send_task(self._client(), "processor.check_header", args=[path], expires=self.timeout)
        except Exception as exc:
            raise ApiError(503, f"The broker is unreachable ({type(exc).__name__}); try again later") from None
        try:
            answer = result.get(timeout=self.timeout, propagate=False)
        except ResultTimeout:
            raise ApiError(504, f"The processor did not check the file within {self.timeout} s") from None
        if result.failed():
            raise ApiError(502, f"The processor could not check the file: {answer}")
        if "error" in answer:
            raise ApiError(422, f"Malformed CSV: {answer['error']}")
        return list(answer["columns"])


@bp.record_once
def _configure(state: BlueprintSetupState) -> None:
    settings = state.app.extensions["settings"]
    state.app.extensions["header_check"] = HeaderCheck(
        settings.broker_url, settings.result_backend, settings.file_check_timeout
    )


@bp.post("/")
def upload_file():  # type: ignore[no-untyped-def]
    mode = request.args.get("validate", "async")
    if mode not in ("async", "sync"):
        raise ApiError(400, "validate must be 'sync' or 'async'")
    path, name = _store_upload()
    try:
        columns = current_app.extensions["header_check"](str(path)) if mode == "sync" else None
    except ApiError:
        path.unlink(missing_ok=True)
        raise
    record = _record_and_send(path, name)
    log.info("File %s (%s) stored and sent to the processor", record.id, name)
    body: dict[str, Any] = {"file_id": record.id, "request_id": record.request_id, "status": record.status}
    if columns is not None:
        body["columns"] = columns
    return jsonify(body), 202


def _store_upload() -> tuple[Path, str]:
    """Check the upload and write it under FILE_STORE; 4xx with a specific message otherwise."""
    settings = current_app.extensions["settings"]
    if request.mimetype != "multipart/form-data":
        raise ApiError(415, "Send the CSV as multipart/form-data, in form field 'file'")
    too_large = ApiError(413, f"The upload is larger than {settings.max_upload_bytes} bytes")
    if request.content_length is not None and request.content_length > settings.max_upload_bytes:
        raise too_large
    try:
        upload = request.files.get("file")
    except RequestEntityTooLarge:
        # A chunked body announces no length: the limit is met while it is read.
        raise too_large from None
    if upload is None or not upload.filename:
        raise ApiError(400, "Send the CSV as multipart form field 'file', with a file name")
    check_text(upload.filename, "The file name")
    is_csv_name = upload.filename.lower().endswith(".csv")
    if upload.mimetype not in CSV_TYPES and not (upload.mimetype == GENERIC_TYPE and is_csv_name):
        raise ApiError(415, f"Expected a CSV file (text/csv), not {upload.mimetype or 'no content type'}")
    store = Path(settings.file_store)
    store.mkdir(parents=True, exist_ok=True)
    path = (store / f"{uuid.uuid4().hex}.csv").resolve()
    upload.save(path)
    if path.stat().st_size == 0:
        path.unlink()
        raise ApiError(422, "The file is empty")
    return path, upload.filename


def _record_and_send(path: Path, name: str) -> File:
    try:
        with current_app.extensions["db"].begin() as session:
            record = File(request_id=current().request_id, name=name[:255], path=str(path))
            session.add(record)
    except Exception:
        path.unlink(missing_ok=True)  # no row will ever name it
        raise
    # Published only once the row is committed; if publishing fails the relay publishes it.
    if publish_file(current_app.extensions["celery"], record):
        current_app.extensions["file_marks"].add(record.id)
    return record


@bp.get("/<int:file_id>")
def get_file(file_id: int):  # type: ignore[no-untyped-def]
    with current_app.extensions["db"]() as session:
        record = get_or_404(session, File, file_id, "file")
    body: dict[str, Any] = {
        "file_id": record.id,
        "name": record.name,
        "request_id": record.request_id,
        "status": record.status,
        "progress": {"rows": record.rows_done, "percent": finite_numbers(record.percent)},
        "result": finite_numbers(record.result),
        "error": record.error,
    }
    return jsonify(body)
