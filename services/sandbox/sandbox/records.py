"""What the providers received: every request, and each delivery once per idempotency key."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any


class Records:
    """Thread-safe, in memory: the sandbox is one process and its records live as long as it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._deliveries: dict[str, dict[str, Any]] = {}

    def request(self, channel: str, request_id: str | None, key: str | None, outcome: str) -> None:
        with self._lock:
            self._requests.append(
                {"channel": channel, "request_id": request_id, "key": key, "outcome": outcome, "at": time.time()}
            )

    def deliver_once(
        self, channel: str, key: str, request_id: str | None, to: str, content: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """The delivery for ``key``, made now unless one exists; True when it is a replay.
        ``content``: the whole mail, for the sink, which keeps every mail it accepts."""
        with self._lock:
            existing = self._deliveries.get(key)
            if existing is not None:
                return existing, True
            delivery = {
                "id": uuid.uuid4().hex, "channel": channel, "key": key,
                "request_id": request_id, "to": to, "at": time.time(),
            }
            if content is not None:
                delivery["content"] = content
            self._deliveries[key] = delivery
            return delivery, False

    def requests(self, where: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._requests if where(entry)]

    def deliveries(self, where: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._deliveries.values() if where(entry)]
