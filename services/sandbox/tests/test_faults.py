"""Fault injection and the idempotent record of deliveries."""

from __future__ import annotations

import pytest
from sandbox.faults import FaultBoard
from sandbox.records import Records


def test_outage_affects_only_its_channel_and_ends():
    board = FaultBoard()
    board.set("sms", outage_seconds=60)

    assert board.verdict("sms") == "outage"
    assert board.verdict("push") is None
    board.set("sms")
    assert board.verdict("sms") is None


def test_error_rate_one_always_fails_and_bad_settings_are_refused():
    board = FaultBoard(error_rate=1.0)

    assert {board.verdict(channel) for channel in ("push", "email", "sms")} == {"error"}
    with pytest.raises(ValueError):
        board.set("fax")
    with pytest.raises(ValueError):
        board.set("all", error_rate=1.5)


def test_a_repeated_key_replays_the_first_delivery():
    records = Records()

    first, replayed_first = records.deliver_once("push", "message-1-push", "rid-1", "token")
    second, replayed_second = records.deliver_once("push", "message-1-push", "rid-2", "token")

    assert (replayed_first, replayed_second) == (False, True)
    assert second == first
    assert len(records.deliveries(lambda entry: True)) == 1


def test_mail_is_kept_every_time_it_arrives_and_repeats_are_reported():
    """As a real SMTP server: a repeated Message-ID is a second mail, not a replay."""
    records = Records()

    for request_id in ("rid-1", "rid-1"):
        records.deliver("email", "<k-email@threadline.local>", request_id, "ada@example.com")
    records.deliver("email", "<other-email@threadline.local>", "rid-2", "ada@example.com")

    assert len(records.deliveries(lambda entry: entry["channel"] == "email")) == 3
    assert records.duplicates() == {"<k-email@threadline.local>": 2}
