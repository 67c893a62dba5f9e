"""Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"),
for every service that retries: the notifier's deliveries, the monitor's alerts."""

from __future__ import annotations

import math
import random


def ceiling(retries: int, base: float, cap: float) -> float:
    """The longest wait before retry number ``retries + 1``: base * 2**retries, at most cap."""
    return min(cap, base * 2.0**retries)


def full_jitter(retries: int, base: float, cap: float) -> float:
    """A wait drawn uniformly below the ceiling, so retrying clients do not move in step."""
    return random.uniform(0, ceiling(retries, base, cap))


def whole_seconds(delay: float) -> int:
    """``delay`` rounded up to whole seconds, at least one: retries on quorum queues travel
    through RabbitMQ's native delayed delivery, which counts whole seconds (and refuses
    0 < t < 1), and a retry budget must outlast a short outage, not spend itself at once."""
    return max(1, math.ceil(delay))
