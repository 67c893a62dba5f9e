"""Each channel's delivery state, read from the notifier's deliveries table.

The notifier owns the table; the API only reads the columns message_id, channel, state,
attempts and last_error. A channel without a row has not been worked on yet: pending.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

CHANNELS = ("push", "email", "sms")
QUERY = text("SELECT channel, state, attempts, last_error FROM deliveries WHERE message_id = :message_id")


def channel_states(session: Session, message_id: int) -> dict[str, dict[str, Any]]:
    states = {channel: {"state": "pending", "attempts": 0, "last_error": None} for channel in CHANNELS}
    # Before the notifier first started, the table does not exist yet.
    if not inspect(session.connection()).has_table("deliveries"):
        return states
    for channel, state, attempts, last_error in session.execute(QUERY, {"message_id": message_id}):
        states[channel] = {"state": state, "attempts": attempts, "last_error": last_error}
    return states
