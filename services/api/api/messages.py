"""POST /api/message/: store a message, then hand it to the notifier."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify

from api.db import Message
from api.errors import ApiError
from api.requests_json import field, json_body
from threadline import current

log = logging.getLogger(__name__)
bp = Blueprint("messages", __name__, url_prefix="/api/message")
MAX_TEXT = 10_000


@bp.post("/")
def create_message():  # type: ignore[no-untyped-def]
    settings = current_app.extensions["settings"]
    data = json_body(settings.max_body_bytes)
    sender, recipient = field(data, "sender", int), field(data, "recipient", int)
    body = field(data, "body", str)
    if not body.strip() or len(body) > MAX_TEXT:
        raise ApiError(422, f"Field body must hold 1 to {MAX_TEXT} characters")
    request_id = current().request_id
    with current_app.extensions["db"].begin() as session:
        message = Message(request_id=request_id, sender=sender, recipient=recipient, body=body)
        session.add(message)
    # Published only once the row is committed: a worker never sees a message that is not there.
    current_app.extensions["celery"].send_task(
        "notifier.send_notification",
        args=[message.id, recipient],
        kwargs={"body": body},
        kwargsrepr="{'body': '[redacted]'}",
    )
    log.info("Message %s from user %s to user %s accepted", message.id, sender, recipient)
    return jsonify(message_id=message.id, request_id=request_id), 202
