"""Lay a trace out as a waterfall: one row per task, bars on one time axis from the request."""

from __future__ import annotations

from datetime import datetime
from typing import Any

Row = dict[str, Any]


def _at(value: str | None) -> float | None:
    return None if value is None else datetime.fromisoformat(value).timestamp()


def rows(document: dict[str, Any]) -> list[Row]:
    """The page's rows, depth first, each with its bars as percentages of the time axis."""
    flat: list[tuple[int, dict[str, Any]]] = []

    def walk(nodes: list[dict[str, Any]], depth: int) -> None:
        for node in nodes:
            flat.append((depth, node))
            walk(node["children"], depth + 1)

    walk(document["tasks"], 0)
    start = _at(document["request"]["started_at"])
    times = [_at(node[name]) for _, node in flat for name in ("sent_at", "received_at", "started_at", "finished_at")]
    present = [at for at in times if at is not None]
    start = min([start, *present]) if start is not None else min(present, default=0.0)
    duration = document["request"]["duration_ms"]
    end = max([*present, start + (duration or 0) / 1000])
    span = max(end - start, 1e-6)
    critical = set(document["summary"]["critical_path"])

    def percent(at: float | None) -> float | None:
        return None if at is None else round((at - start) / span * 100, 3)

    laid_out = [_request_row(document["request"], percent, start, span)]
    for depth, node in flat:
        laid_out.append(_task_row(depth, node, percent, critical))
    return laid_out


def _request_row(request: dict[str, Any], percent: Any, start: float, span: float) -> Row:
    duration = request["duration_ms"]
    width = None if duration is None else max(round(duration / 1000 / span * 100, 3), 0.3)
    label = f"{request['method']} {request['path']}" if request["method"] else f"request {request['request_id']}"
    return {
        "kind": "request", "depth": 0, "label": label, "state": str(request["status"] or ""), "css": "request",
        "wait": None, "run": None if width is None else (percent(start), width), "marks": [],
        "duration": None if duration is None else f"{duration:.1f} ms", "exception": None, "critical": False,
        "task_id": None,
    }


def _task_row(depth: int, node: dict[str, Any], percent: Any, critical: set[str]) -> Row:
    queued = _at(node["sent_at"]) or _at(node["received_at"])
    started, finished = _at(node["started_at"]), _at(node["finished_at"])
    wait_end = started or finished
    wait = _bar(percent(queued), percent(wait_end)) if queued is not None and wait_end is not None else None
    run = _bar(percent(started), percent(finished)) if started is not None and finished is not None else None
    marks = [percent(_at(attempt["started_at"])) for attempt in node["attempts"][1:] if attempt["started_at"]]
    total = node["runtime_ms"]
    return {
        "kind": "task", "depth": depth, "label": node["name"] or node["task_id"], "state": node["state"],
        "css": node["state"].lower(), "wait": wait, "run": run, "marks": marks,
        "duration": _durations(node["queue_wait_ms"], total), "exception": node["exception"],
        "critical": node["task_id"] in critical, "task_id": node["task_id"], "retries": node["retries"],
        "worker": node["worker"], "queue": node["queue"], "attempts": node["attempts"],
    }


def _bar(left: float | None, right: float | None) -> tuple[float, float] | None:
    if left is None or right is None:
        return None
    return left, max(right - left, 0.3)


def _durations(wait_ms: float | None, run_ms: float | None) -> str:
    wait = "-" if wait_ms is None else f"{wait_ms:.1f} ms"
    run = "-" if run_ms is None else f"{run_ms:.1f} ms"
    return f"wait {wait} · run {run}"
