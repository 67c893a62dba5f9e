"""Exponential backoff with full jitter: ceilings double up to the cap, waits stay below them."""

from __future__ import annotations

from threadline.backoff import ceiling, full_jitter, whole_seconds


def test_ceiling_doubles_until_the_cap():
    assert [ceiling(retries, 0.5, 4.0) for retries in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_waits_are_spread_between_zero_and_the_ceiling():
    waits = [full_jitter(3, 0.5, 60.0) for _ in range(2000)]

    assert all(0 <= wait <= 4.0 for wait in waits)
    assert min(waits) < 1.0 and max(waits) > 3.0


def test_waits_go_to_the_broker_in_whole_seconds_of_at_least_one():
    assert [whole_seconds(wait) for wait in (0.0, 0.2, 1.0, 1.6, 59.9)] == [1, 1, 1, 2, 60]
