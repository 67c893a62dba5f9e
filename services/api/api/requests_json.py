"""Reading and validating JSON request bodies."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from api.errors import ApiError


def json_body(max_bytes: int) -> dict[str, Any]:
    """The request's JSON object; 415, 413 or 400 with a specific message otherwise."""
    if request.mimetype != "application/json":
        raise ApiError(415, "Content-Type must be application/json")
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, f"Body is larger than {max_bytes} bytes")
    raw = request.stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ApiError(413, f"Body is larger than {max_bytes} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"Malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The body must be a JSON object")
    return data


def field(data: dict[str, Any], name: str, kind: type, *, required: bool = True) -> Any:
    """``data[name]`` checked for presence and type (422 with the field's name otherwise)."""
    if name not in data:
        if required:
            raise ApiError(422, f"Missing field: {name}")
        return None
    value = data[name]
    # bool is an int in Python, but true is no user ID.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ApiError(422, f"Field {name} must be of type {_JSON_NAMES[kind]}")
    return value


_JSON_NAMES = {int: "integer", str: "string", bool: "boolean", dict: "object"}
