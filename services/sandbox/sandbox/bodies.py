"""Request bodies as the sandbox's endpoints read them."""

from __future__ import annotations

from typing import Any

from flask import request


def json_body() -> Any:
    """The request's JSON, or None when it is not JSON (or too deeply nested to parse)."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        return None
