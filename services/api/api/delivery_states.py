"""Each channel's delivery state, read from the notifier's deliveries table.

The notifier owns the table; the API only reads the columns message_id, channel,
idempotency_key, state, attempts and last_error (the contract in notifier.deliveries). A
channel without a row has not been worked on yet: pending.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, inspect, text
from sqlalchemy.orm import Session

CHANNELS = ("push", "email", "sms")
FINAL = ("sent", "failed", "skipped")
QUERY = text(
    "SELECT channel, idempotency_key, state, attempts, last_error FROM deliveries WHERE message_id = :message_id"
)
SETTLED = text(
    "SELECT message_id FROM deliveries WHERE message_id IN :ids AND state IN :final"
    " GROUP BY message_id HAVING COUNT(*) = :channels"
).bindparams(bindparam("ids", expanding=True), bindparam("final", expanding=True))


def channel_states(session: Session, message_id: int) -> dict[str, dict[str, Any]]:
    states: dict[str, dict[str, Any]] = {
        channel: {"state": "pending", "attempts": 0, "last_error": None, "idempotency_key": None}
        for channel in CHANNELS
    }
    # Before the notifier first started, the table does not exist yet.
    if not inspect(session.connection()).has_table("deliveries"):
        return states
    for channel, key, state, attempts, last_error in session.execute(QUERY, {"message_id": message_id}):
        states[channel] = {"state": state, "attempts": attempts, "last_error": last_error, "idempotency_key": key}
    return states


def settled_messages(connection: Connection, message_ids: list[int]) -> set[int]:
    """Those of ``message_ids`` whose every channel reached a final state."""
    if not message_ids or not inspect(connection).has_table("deliveries"):
        return set()
    rows = connection.execute(SETTLED, {"ids": message_ids, "final": list(FINAL), "channels": len(CHANNELS)})
    return {row.message_id for row in rows}
