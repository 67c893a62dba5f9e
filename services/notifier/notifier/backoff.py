"""Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter")."""

from __future__ import annotations

import random


def ceiling(retries: int, base: float, cap: float) -> float:
    """The longest wait before retry number ``retries + 1``: base * 2**retries, at most cap."""
    return min(cap, base * 2**retries)


def full_jitter(retries: int, base: float, cap: float) -> float:
    """A wait drawn uniformly below the ceiling, so retrying clients do not move in step."""
    return random.uniform(0, ceiling(retries, base, cap))


def whole_seconds(delay: float) -> int:
    """``delay`` rounded down to whole seconds: retries on quorum queues travel through
    RabbitMQ's native delayed delivery, which counts whole seconds (and refuses 0 < t < 1)."""
    return int(delay)
