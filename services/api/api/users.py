"""Users and their channel preferences: POST /api/users/, GET /api/users/<id>, PATCH .../preferences."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import Connection, bindparam, or_, select

from api.db import User, get_or_404
from api.errors import ApiError
from api.requests_json import field, json_body

bp = Blueprint("users", __name__, url_prefix="/api/users")
CHANNELS = ("push", "email", "sms")
# The contact detail each channel needs before it can be turned on.
ADDRESS_OF = {"push": "device_token", "email": "email", "sms": "phone"}
FORMATS = {
    "email": re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[A-Za-z]{2,}"),
    "phone": re.compile(r"\+[1-9][0-9]{6,14}"),
    "device_token": re.compile(r"[A-Za-z0-9:_.-]{1,255}"),
}
USERS = User.__table__
# Built once: SQLAlchemy then compiles it once per process, not once per message.
SENDER_AND_RECIPIENT = select(USERS).where(or_(USERS.c.id == bindparam("sender"), USERS.c.id == bindparam("recipient")))
FORMAT_HINTS = {"email": "an e-mail address", "phone": "an E.164 number such as +15550100", "device_token": "a token"}


def sender_and_recipient(connection: Connection, sender: int, recipient: int) -> dict[int, Any]:
    """The rows of these two users, by ID; unknown IDs are missing."""
    rows = connection.execute(SENDER_AND_RECIPIENT, {"sender": sender, "recipient": recipient})
    return {user.id: user for user in rows}


@bp.post("/")
def create_user():  # type: ignore[no-untyped-def]
    data = json_body(current_app.extensions["settings"].max_body_bytes)
    _reject_unknown(data, {"name", "preferences", *ADDRESS_OF.values()})
    name = field(data, "name", str)
    if not name.strip() or len(name) > 100:
        raise ApiError(422, "Field name must hold 1 to 100 characters")
    user = User(name=name, **{key: _address(data, key) for key in ADDRESS_OF.values()})
    # Without preferences, every channel whose address was given is on.
    wanted = _preferences(data["preferences"]) if "preferences" in data else {
        channel: getattr(user, ADDRESS_OF[channel]) is not None for channel in CHANNELS
    }
    _apply(user, wanted)
    with current_app.extensions["db"].begin() as session:
        session.add(user)
    return jsonify(describe(user)), 201


@bp.get("/<int:user_id>")
def get_user(user_id: int):  # type: ignore[no-untyped-def]
    with current_app.extensions["db"]() as session:
        return jsonify(describe(get_or_404(session, User, user_id, "user")))


@bp.patch("/<int:user_id>/preferences")
def update_preferences(user_id: int):  # type: ignore[no-untyped-def]
    wanted = _preferences(json_body(current_app.extensions["settings"].max_body_bytes))
    with current_app.extensions["db"].begin() as session:
        user = get_or_404(session, User, user_id, "user")
        _apply(user, wanted)
    return jsonify(describe(user))


def describe(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        **{key: getattr(user, key) for key in ADDRESS_OF.values()},
        "preferences": {channel: getattr(user, f"{channel}_enabled") for channel in CHANNELS},
    }


def _reject_unknown(data: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise ApiError(422, f"Unknown field: {unknown[0]}")


def _address(data: dict[str, Any], key: str) -> str | None:
    if data.get(key) is None:
        return None
    value = field(data, key, str)
    limit = USERS.c[key].type.length
    if len(value) > limit:
        raise ApiError(422, f"Field {key} must hold at most {limit} characters")
    if not FORMATS[key].fullmatch(value):
        raise ApiError(422, f"Field {key} must be {FORMAT_HINTS[key]}")
    return value


def _preferences(data: Any) -> dict[str, bool]:
    if not isinstance(data, dict):
        raise ApiError(422, "Field preferences must be of type object")
    _reject_unknown(data, set(CHANNELS))
    if not data:
        raise ApiError(422, f"Give at least one of {', '.join(CHANNELS)}")
    return {channel: field(data, channel, bool) for channel in data}


def _apply(user: User, wanted: dict[str, bool]) -> None:
    for channel, enabled in wanted.items():
        if enabled and getattr(user, ADDRESS_OF[channel]) is None:
            raise ApiError(422, f"Channel {channel} needs field {ADDRESS_OF[channel]} first")
        setattr(user, f"{channel}_enabled", enabled)
