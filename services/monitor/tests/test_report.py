"""render: the report's text, whatever the day held."""

from __future__ import annotations

from monitor.report import render

QUIET_DAY = {"failures": [], "since": 0.0, "now": 86_400.0, "alerts": {}, "retries": [], "slowest": []}


def test_a_day_without_failures_or_retries_says_so():
    text = render(QUIET_DAY, "http://monitor").text

    assert "No task failed in the last 24 hours." in text
    assert "Retries by task:\n  none\n" in text


def test_retries_are_listed_by_task():
    text = render({**QUIET_DAY, "retries": [("notifier.send_push", 3)]}, "http://monitor").text

    assert "Retries by task:\n     3  notifier.send_push\n" in text
