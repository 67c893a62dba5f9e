"""Reading and validating JSON request bodies: everything the database could not store is
refused here, with a 4xx naming the field, before any row is written."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from api.db import MAX_ID
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
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"Malformed JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "Malformed JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The body must be a JSON object")
    return data


def _reject_constant(name: str) -> Any:
    # Python reads NaN and Infinity, which JSON does not have.
    raise ValueError(f"{name} is not JSON")


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
    if kind is str:
        check_text(value, f"Field {name}")
    return value


def identifier(data: dict[str, Any], name: str) -> int:
    """``data[name]`` as a row ID: an integer the database's id columns can hold."""
    value: int = field(data, name, int)
    if not 1 <= value <= MAX_ID:
        raise ApiError(422, f"Field {name} must be an id from 1 to {MAX_ID}")
    return value


def check_text(value: str, what: str) -> None:
    """422 for text no database column can hold: NUL characters, lone UTF-16 surrogates."""
    if "\x00" in value:
        raise ApiError(422, f"{what} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(422, f"{what} is not valid Unicode (a lone surrogate)") from None


_JSON_NAMES = {int: "integer", str: "string", bool: "boolean", dict: "object"}
