"""Send the alert outbox to ALERT_WEBHOOK_URL: a timeout on every call, retries with backoff.

429, 5xx and connection errors are retried with exponential backoff and full jitter, at most
ALERT_MAX_ATTEMPTS times; any other 4xx is not retried. An alert that is not delivered stays
in the outbox as ``undelivered`` with the reason (GET /api/alerts). A row is claimed with a
conditional UPDATE before it is sent, so two monitors never send the same alert.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import requests
from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine
from threadline import backoff

from monitor.config import Settings
from monitor.tables import alerts
from monitor.traces import iso

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5
# A claimed alert is someone's for this long; a monitor killed mid-call leaves it to the next.
LEASE_SECONDS = 60.0
_ERROR_CHARS = 500
ALERT_STATES = ("pending", "sent", "undelivered")


def run(engine: Engine, settings: Settings, stop: threading.Event) -> None:
    """Deliver due alerts until ``stop`` is set (the consumer process runs it in a thread)."""
    session = requests.Session()
    while not stop.wait(POLL_SECONDS):
        try:
            for key in _due(engine):
                if _claim(engine, key):
                    _send(engine, settings, session, key)
        except Exception:
            log.exception("Alert delivery round failed; trying again")


def _due(engine: Engine) -> list[str]:
    query = select(alerts.c.dedup_key).where(alerts.c.state == "pending", alerts.c.next_attempt_at <= time.time())
    with engine.connect() as connection:
        return list(connection.execute(query.order_by(alerts.c.created_at).limit(50)).scalars())


def _claim(engine: Engine, key: str) -> bool:
    now = time.time()
    with engine.begin() as connection:
        claimed = connection.execute(
            update(alerts).where(alerts.c.dedup_key == key, alerts.c.state == "pending",
                                 alerts.c.next_attempt_at <= now).values(next_attempt_at=now + LEASE_SECONDS)
        )
    return claimed.rowcount == 1


def _send(engine: Engine, settings: Settings, session: requests.Session, key: str) -> None:
    with engine.connect() as connection:
        payload, attempts = connection.execute(
            select(alerts.c.payload, alerts.c.attempts).where(alerts.c.dedup_key == key)).one()
    attempt = attempts + 1
    try:
        response = session.post(settings.alert_webhook_url, json=json.loads(payload), timeout=settings.alert_timeout)
    except requests.RequestException as exc:
        return _failed(engine, settings, key, attempt, f"{type(exc).__name__}: {exc}", retry=True)
    if response.status_code < 300:
        _update(engine, key, state="sent", attempts=attempt, sent_at=time.time(), last_error=None)
        log.info("Alert %s delivered (attempt %d)", key, attempt)
        return None
    reason = f"HTTP {response.status_code}: {response.text[:_ERROR_CHARS]}"
    retry = response.status_code == 429 or response.status_code >= 500
    return _failed(engine, settings, key, attempt, reason, retry=retry)


def _failed(engine: Engine, settings: Settings, key: str, attempt: int, reason: str, retry: bool) -> None:
    if retry and attempt < settings.alert_max_attempts:
        # Full jitter: monitors that failed together spread out.
        delay = backoff.full_jitter(attempt - 1, settings.alert_backoff_base, settings.alert_backoff_cap)
        _update(engine, key, attempts=attempt, last_error=reason, next_attempt_at=time.time() + delay)
        log.warning("Alert %s: attempt %d failed (%s); retry in %.2f s", key, attempt, reason, delay)
        return
    _update(engine, key, state="undelivered", attempts=attempt, last_error=reason)
    log.error("Alert %s undelivered after %d attempts: %s", key, attempt, reason)


def _update(engine: Engine, key: str, **values: object) -> None:
    with engine.begin() as connection:
        connection.execute(update(alerts).where(alerts.c.dedup_key == key).values(**values))


def alert_list(connection: Connection, state: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The outbox, newest first: what was sent, what is pending and what could not be delivered."""
    query = select(alerts).order_by(alerts.c.created_at.desc()).limit(limit)
    if state is not None:
        query = query.where(alerts.c.state == state)
    rows = []
    for row in connection.execute(query).mappings():
        entry = {name: row[name] for name in ("dedup_key", "task_id", "request_id", "task_name", "exception_type",
                                              "state", "attempts", "repeats", "last_error")}
        entry.update(created_at=iso(row["created_at"]), sent_at=iso(row["sent_at"]), event=json.loads(row["payload"]))
        rows.append(entry)
    return rows
