"""Fault injection per channel: error rate, added latency and outages of N seconds."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

CHANNELS = ("push", "email", "sms", "alerts")


@dataclass
class Faults:
    error_rate: float = 0.0
    latency_ms: int = 0
    outage_until: float = 0.0

    def describe(self) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "latency_ms": self.latency_ms,
            "outage_remaining_s": round(max(0.0, self.outage_until - time.monotonic()), 1),
        }


class FaultBoard:
    """What each channel should do to the next request; changed at start and at run time."""

    def __init__(self, error_rate: float = 0.0, latency_ms: int = 0, outage_seconds: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, Faults] = {}
        self.set("all", error_rate=error_rate, latency_ms=latency_ms, outage_seconds=outage_seconds)

    def set(self, channel: str, *, error_rate: float = 0.0, latency_ms: int = 0, outage_seconds: float = 0.0) -> None:
        """Replace the faults of ``channel`` (or of every channel with "all")."""
        if channel != "all" and channel not in CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(CHANNELS)} or all")
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if latency_ms < 0 or outage_seconds < 0:
            raise ValueError("latency_ms and outage_seconds must not be negative")
        outage_until = time.monotonic() + outage_seconds if outage_seconds else 0.0
        with self._lock:
            for name in CHANNELS if channel == "all" else (channel,):
                self._faults[name] = Faults(error_rate, latency_ms, outage_until)

    def describe(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: faults.describe() for name, faults in self._faults.items()}

    def latency(self, channel: str) -> float:
        """Seconds to wait before answering a request on ``channel``."""
        with self._lock:
            return self._faults[channel].latency_ms / 1000

    def verdict(self, channel: str) -> str | None:
        """What to do with a request now: "outage", "error" or None (serve it)."""
        with self._lock:
            faults = self._faults[channel]
        if time.monotonic() < faults.outage_until:
            return "outage"
        if random.random() < faults.error_rate:
            return "error"
        return None
