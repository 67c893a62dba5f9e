"""POST /api/message/ stores a message and hands it to the notifier; GET shows its channels."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from threadline import current

from api import outbox
from api.db import Message, get_or_404
from api.delivery_states import channel_states
from api.errors import ApiError
from api.requests_json import field, identifier, json_body

log = logging.getLogger(__name__)
bp = Blueprint("messages", __name__, url_prefix="/api/message")
MAX_TEXT = 10_000


@bp.post("/")
def create_message():  # type: ignore[no-untyped-def]
    settings = current_app.extensions["settings"]
    data = json_body(settings.max_body_bytes)
    sender, recipient = identifier(data, "sender"), identifier(data, "recipient")
    body = field(data, "body", str)
    if not body.strip() or len(body) > MAX_TEXT:
        raise ApiError(422, f"Field body must hold 1 to {MAX_TEXT} characters")
    request_id = current().request_id
    engine = current_app.extensions["engine"]
    with engine.begin() as connection:
        users = outbox.sender_and_recipient(connection, sender, recipient)
        for role, user_id in (("sender", sender), ("recipient", recipient)):
            if user_id not in users:
                raise ApiError(422, f"Unknown {role}: no user with id {user_id}")
        message_id = outbox.add_message(connection, request_id, sender, recipient, body)
    # Published only once the row is committed; if publishing fails the relay publishes it,
    # so the 202 stands either way (README, "Guarantees").
    arguments = outbox.task_arguments(message_id, recipient, users[recipient], body)
    if outbox.publish(current_app.extensions["celery"], message_id, arguments):
        current_app.extensions["outbox_marks"].add(message_id)
    log.info("Message %s from user %s to user %s accepted", message_id, sender, recipient)
    return jsonify(message_id=message_id, request_id=request_id), 202


@bp.get("/<int:message_id>")
def get_message(message_id: int):  # type: ignore[no-untyped-def]
    with current_app.extensions["db"]() as session:
        message = get_or_404(session, Message, message_id, "message")
        channels = channel_states(session, message_id)
    return jsonify(
        message_id=message.id, request_id=message.request_id, sender=message.sender,
        recipient=message.recipient, body=message.body, created_at=message.created_at.isoformat(),
        published=message.published_at is not None, channels=channels,
    )
