"""POST /api/files/: store an upload and have the remote processor work on it."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from flask import Blueprint, current_app, jsonify, request

from api.callbacks import file_failed, file_processed
from api.celery_app import CALLBACK_QUEUE
from api.db import File
from api.errors import ApiError
from threadline import current
from threadline.callbacks import remote_errback

log = logging.getLogger(__name__)
bp = Blueprint("files", __name__, url_prefix="/api/files")


@bp.post("/")
def upload_file():  # type: ignore[no-untyped-def]
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiError(400, "Send the CSV as multipart form field 'file'")
    store = Path(current_app.extensions["settings"].file_store)
    store.mkdir(parents=True, exist_ok=True)
    path = store / f"{uuid.uuid4().hex}.csv"
    upload.save(path)
    request_id = current().request_id
    with current_app.extensions["db"].begin() as session:
        record = File(request_id=request_id, name=upload.filename, path=str(path.resolve()))
        session.add(record)
    current_app.extensions["celery"].send_task(
        "processor.process_file",
        args=[record.path],
        link=file_processed.s(record.id).set(queue=CALLBACK_QUEUE),
        link_error=remote_errback(file_failed.s(record.id).set(queue=CALLBACK_QUEUE)),
    )
    log.info("File %s (%s) stored and sent to the processor", record.id, upload.filename)
    return jsonify(file_id=record.id, request_id=request_id, status=record.status), 202


@bp.get("/<int:file_id>")
def get_file(file_id: int):  # type: ignore[no-untyped-def]
    with current_app.extensions["db"]() as session:
        record = session.get(File, file_id)
    if record is None:
        raise ApiError(404, f"No file with id {file_id}")
    return jsonify(file_id=record.id, status=record.status, result=record.result, error=record.error)
