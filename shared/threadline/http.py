"""Outgoing HTTP that carries the request ID: a requests Session for tasks and views."""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter

from threadline.context import current

# The HTTP header that carries the request ID, in and out.
HEADER = "X-Request-ID"


class TracingAdapter(HTTPAdapter):
    """Adds ``X-Request-ID`` to every request sent through it while a trace is bound."""

    def add_headers(self, request: requests.PreparedRequest, **kwargs: Any) -> None:
        ids = current()
        if ids is not None:
            request.headers[HEADER] = ids.request_id


def traced_session(**adapter_options: Any) -> requests.Session:
    """A ``requests.Session`` whose calls send the current request ID."""
    session = requests.Session()
    adapter = TracingAdapter(**adapter_options)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
