"""Read a request's trace from the store: its tasks as a tree, with a summary and critical path."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from monitor.tables import attempts, requests, tasks

Node = dict[str, Any]
NODE_FIELDS = (
    "task_id", "name", "state", "queue", "worker", "retries", "sent_at", "received_at", "started_at",
    "finished_at", "queue_wait_ms", "runtime_ms", "exception",
)
TIMES = ("sent_at", "received_at", "started_at", "finished_at")
REQUEST_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "started_at")


def iso(at: float | None) -> str | None:
    """An epoch time as ISO 8601 in UTC, to the millisecond."""
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def trace(connection: Connection, request_id: str) -> dict[str, Any] | None:
    """The trace document of ``request_id``, or None when the monitor has never seen it."""
    request = connection.execute(select(requests).where(requests.c.request_id == request_id)).mappings().first()
    if request is None:
        return None
    rows = [dict(row) for row in connection.execute(
        select(tasks).where(tasks.c.request_id == request_id).order_by(tasks.c.sent_at, tasks.c.received_at)
    ).mappings()]
    tries: dict[str, list[dict[str, Any]]] = {}
    if rows:
        query = select(attempts).where(attempts.c.task_id.in_(select(tasks.c.task_id).where(
            tasks.c.request_id == request_id))).order_by(attempts.c.task_id, attempts.c.attempt)
        for attempt in connection.execute(query).mappings():
            tries.setdefault(attempt["task_id"], []).append(_attempt(attempt))
    roots = _tree(rows, tries)
    return {"request": _request(request), "tasks": roots, "summary": summary(dict(request), rows)}


def _request(row: Any) -> dict[str, Any]:
    document = {name: row[name] for name in REQUEST_FIELDS}
    document["started_at"] = iso(row["started_at"] if row["started_at"] is not None else row["first_seen_at"])
    return document


def _attempt(row: Any) -> dict[str, Any]:
    document = {name: row[name] for name in ("attempt", "state", "worker", "runtime_ms", "exception")}
    document.update({name: iso(row[name]) for name in TIMES})
    return document


def _tree(rows: list[dict[str, Any]], tries: dict[str, list[dict[str, Any]]]) -> list[Node]:
    nodes: dict[str, Node] = {}
    for row in rows:
        node = {name: row[name] for name in NODE_FIELDS}
        node.update({name: iso(row[name]) for name in TIMES}, attempts=tries.get(row["task_id"], []), children=[])
        nodes[row["task_id"]] = node
    roots = []
    for row in rows:
        parent = nodes.get(row["parent_id"]) if row["parent_id"] != row["task_id"] else None
        (parent["children"] if parent is not None else roots).append(nodes[row["task_id"]])
    return roots


def summary(request: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Tasks by state, wall time from the request's start to its last task's end, critical path."""
    start = request["started_at"] if request["started_at"] is not None else request["first_seen_at"]
    ends = [row["finished_at"] for row in rows if row["finished_at"] is not None]
    end = max(ends, default=None)
    if request["duration_ms"] is not None:
        end = max(end or 0.0, request["started_at"] + request["duration_ms"] / 1000)
    return {
        "tasks": len(rows),
        "by_state": dict(sorted(Counter(row["state"] for row in rows).items())),
        "wall_ms": None if end is None else round((end - start) * 1000, 3),
        "critical_path": critical_path(rows),
    }


def critical_path(rows: list[dict[str, Any]]) -> list[str]:
    """Task IDs from a root to the task that finished last: what the request's wall time waited on."""
    by_id = {row["task_id"]: row for row in rows}
    finished = [row for row in rows if row["finished_at"] is not None]
    if not finished:
        return []
    path, row = [], max(finished, key=lambda r: r["finished_at"])
    while row is not None and row["task_id"] not in path:
        path.append(row["task_id"])
        row = by_id.get(row["parent_id"])
    return path[::-1]


def recent(
    connection: Connection, *, state: str | None, task: str | None, since: float | None, limit: int
) -> list[dict[str, Any]]:
    """Requests newest first, optionally only those with a task in ``state`` and/or named ``task``."""
    query = select(requests).order_by(requests.c.first_seen_at.desc()).limit(limit)
    if since is not None:
        query = query.where(requests.c.first_seen_at >= since)
    if state == "FAILURE" and task is None:
        query = query.where(requests.c.failures > 0)  # the common question, answered by an index
    elif state is not None or task is not None:
        matching = select(tasks.c.request_id)
        if state is not None:
            matching = matching.where(tasks.c.state == state)
        if task is not None:
            matching = matching.where(tasks.c.name == task)
        query = query.where(requests.c.request_id.in_(matching))
    found = [dict(row) for row in connection.execute(query).mappings()]
    counts = _counts(connection, [row["request_id"] for row in found])
    return [{**_request(row), "summary": _short_summary(row, counts.get(row["request_id"], {}))} for row in found]


def _counts(connection: Connection, request_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not request_ids:
        return {}
    query = (
        select(tasks.c.request_id, tasks.c.state, func.count(), func.max(tasks.c.finished_at))
        .where(tasks.c.request_id.in_(request_ids)).group_by(tasks.c.request_id, tasks.c.state)
    )
    counts: dict[str, dict[str, Any]] = {}
    for request_id, state, count, finished in connection.execute(query):
        entry = counts.setdefault(request_id, {"by_state": {}, "finished_at": None})
        entry["by_state"][state] = count
        if finished is not None:
            entry["finished_at"] = max(entry["finished_at"] or finished, finished)
    return counts


def _short_summary(request: dict[str, Any], counts: dict[str, Any]) -> dict[str, Any]:
    by_state = dict(sorted(counts.get("by_state", {}).items()))
    start = request["started_at"] if request["started_at"] is not None else request["first_seen_at"]
    end = counts.get("finished_at")
    return {
        "tasks": sum(by_state.values()),
        "by_state": by_state,
        "wall_ms": None if end is None else round((end - start) * 1000, 3),
    }
