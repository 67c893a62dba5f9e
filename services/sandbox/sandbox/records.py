"""What the providers received: every request, and every delivery made.

The HTTP providers make one delivery per idempotency key, as real ones that honour the key
do; the SMTP sink, like a real mail server, stores every mail it accepts, repeats included.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any


class Records:
    """Thread-safe, in memory: the sandbox is one process and its records live as long as it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._deliveries: list[dict[str, Any]] = []
        self._by_key: dict[str, dict[str, Any]] = {}

    def request(self, channel: str, request_id: str | None, key: str | None, outcome: str) -> None:
        with self._lock:
            self._requests.append(
                {"channel": channel, "request_id": request_id, "key": key, "outcome": outcome, "at": time.time()}
            )

    def deliver_once(self, channel: str, key: str, request_id: str | None, to: str) -> tuple[dict[str, Any], bool]:
        """The delivery for ``key``, made now unless one exists; True when it is a replay."""
        with self._lock:
            existing = self._by_key.get(key)
            if existing is not None:
                return existing, True
            delivery = self._add(channel, key, request_id, to)
            self._by_key[key] = delivery
            return delivery, False

    def deliver(self, channel: str, key: str | None, request_id: str | None, to: str) -> dict[str, Any]:
        """A delivery made whatever was delivered before (a mail server's way)."""
        with self._lock:
            return self._add(channel, key, request_id, to)

    def _add(self, channel: str, key: str | None, request_id: str | None, to: str) -> dict[str, Any]:
        delivery = {
            "id": uuid.uuid4().hex, "channel": channel, "key": key,
            "request_id": request_id, "to": to, "at": time.time(),
        }
        self._deliveries.append(delivery)
        return delivery

    def duplicates(self) -> dict[str, int]:
        """Keys (Message-IDs, for mail) delivered more than once, with their counts."""
        with self._lock:
            counts = Counter(entry["key"] for entry in self._deliveries)
        return {key: count for key, count in counts.items() if count > 1}

    def requests(self, where: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._requests if where(entry)]

    def deliveries(self, where: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._deliveries if where(entry)]
