"""POST /api/message/ stores a message and hands it to the notifier; GET shows its channels."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import IntegrityError
from threadline import current

from api import outbox
from api.db import Message, get_or_404
from api.delivery_states import channel_states
from api.errors import ApiError
from api.notifier_client import addresses_of, publish
from api.requests_json import field, identifier, json_body
from api.users import sender_and_recipient

log = logging.getLogger(__name__)
bp = Blueprint("messages", __name__, url_prefix="/api/message")
MAX_TEXT = 10_000
# What a client may send as Idempotency-Key: printable ASCII, as the IETF draft's keys are.
CLIENT_KEY = re.compile(r"[\x21-\x7e]{1,255}")


@bp.post("/")
def create_message():  # type: ignore[no-untyped-def]
    settings = current_app.extensions["settings"]
    client_key = _client_key()
    data = json_body(settings.max_body_bytes)
    sender, recipient = identifier(data, "sender"), identifier(data, "recipient")
    body = field(data, "body", str)
    if not body.strip() or len(body) > MAX_TEXT:
        raise ApiError(422, f"Field body must hold 1 to {MAX_TEXT} characters")
    engine = current_app.extensions["engine"]
    try:
        with engine.begin() as connection:
            message = _repeat(connection, sender, client_key)
            new = message is None
            if new:
                message = _add(connection, sender, recipient, body, client_key)
    except IntegrityError:
        # The same key in a concurrent request, committed first: answer as it did.
        with engine.connect() as connection:
            message, new = _repeat(connection, sender, client_key), False
        if message is None:
            raise
    if new:
        # Published only once the row is committed; if publishing fails the relay publishes
        # it, so the 202 stands either way (README, "Guarantees").
        if publish(current_app.extensions["celery"], message):
            current_app.extensions["outbox_marks"].add(message.id)
        log.info("Message %s from user %s to user %s accepted", message.id, sender, recipient)
    return jsonify(message_id=message.id, request_id=message.request_id), 202


def _client_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not CLIENT_KEY.fullmatch(key):
        raise ApiError(400, "Idempotency-Key must be 1 to 255 printable ASCII characters")
    return key


def _repeat(connection: Any, sender: int, client_key: str | None) -> Any:
    if client_key is None:
        return None
    message = outbox.by_client_key(connection, sender, client_key)
    if message is not None:
        log.info("Message %s repeated with the same Idempotency-Key; nothing new stored", message.id)
    return message


def _add(connection: Any, sender: int, recipient: int, body: str, client_key: str | None) -> Any:
    users = sender_and_recipient(connection, sender, recipient)
    for role, user_id in (("sender", sender), ("recipient", recipient)):
        if user_id not in users:
            raise ApiError(422, f"Unknown {role}: no user with id {user_id}")
    return outbox.add_message(connection, current().request_id, sender, recipient, body,
                              addresses_of(users[recipient]), client_key)


def _utc(moment: datetime) -> datetime:
    # SQLite hands the database's UTC clock back without its offset.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@bp.get("/<int:message_id>")
def get_message(message_id: int):  # type: ignore[no-untyped-def]
    with current_app.extensions["db"]() as session:
        message = get_or_404(session, Message, message_id, "message")
        channels = channel_states(session, message_id)
    return jsonify(
        message_id=message.id, request_id=message.request_id, key=message.key, sender=message.sender,
        recipient=message.recipient, body=message.body, created_at=_utc(message.created_at).isoformat(),
        published=message.published_at is not None, channels=channels,
    )
