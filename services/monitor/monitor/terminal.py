"""``make trace RID=...``: a request's trace as a tree in the terminal (``--json``: the raw document).

    python -m monitor.terminal RID [--json] [--url http://127.0.0.1:8070]

It asks the monitor's API, as any other client would, so it works against any deployment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import requests
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

COLOURS = {
    "SUCCESS": "green", "FAILURE": "bold red", "RETRY": "yellow", "STARTED": "blue",
    "RECEIVED": "cyan", "PENDING": "dim", "REVOKED": "magenta", "REJECTED": "magenta",
}


def render(document: dict[str, Any]) -> Tree:
    """The trace as a rich tree: the request at the root, each task under its parent."""
    request, summary = document["request"], document["summary"]
    head = f"[bold]{escape(request['request_id'])}[/]"
    if request["method"]:
        head += f"  {escape(request['method'])} {escape(request['path'])} → {request['status']}"
        head += f"  {request['duration_ms']:.1f} ms"
    states = ", ".join(f"{count} {state}" for state, count in summary["by_state"].items())
    wall = "" if summary["wall_ms"] is None else f", wall {summary['wall_ms']:.1f} ms"
    tree = Tree(f"{head}  [dim]({summary['tasks']} tasks: {states}{wall})[/]")
    width = max((len(name) for name in _names(document["tasks"])), default=0)
    critical = set(summary["critical_path"])
    for node in document["tasks"]:
        _add(tree, node, width, critical, 0)
    return tree


def _names(nodes: list[dict[str, Any]], depth: int = 0) -> list[str]:
    found = []
    for node in nodes:
        found.append(" " * 4 * depth + (node["name"] or node["task_id"]))
        found.extend(_names(node["children"], depth + 1))
    return found


def _add(parent: Tree, node: dict[str, Any], width: int, critical: set[str], depth: int) -> None:
    name = (node["name"] or node["task_id"]).ljust(width - 4 * depth)
    colour = COLOURS.get(node["state"], "white")
    retries = f"  {node['retries'] + 1} attempts" if node["retries"] else ""
    mark = " [bold]*[/]" if node["task_id"] in critical else ""
    label = (
        f"{escape(name)}  [{colour}]{node['state']:<8}[/]  wait {_ms(node['queue_wait_ms'])}  "
        f"run {_ms(node['runtime_ms'])}{retries}{mark}"
    )
    branch = parent.add(label)
    if node["exception"]:
        branch.add(f"[red]{escape(node['exception'])}[/]")
    for child in node["children"]:
        _add(branch, child, width, critical, depth + 1)


def _ms(value: float | None) -> str:
    return f"{'-':>9}" if value is None else f"{value:>6.1f} ms"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make trace", description="Print a request's trace")
    parser.add_argument("request_id")
    parser.add_argument("--json", action="store_true", help="print the trace document as JSON")
    parser.add_argument("--url", default=os.environ.get("MONITOR_URL", "http://127.0.0.1:8070"),
                        help="the monitor's address (MONITOR_URL)")
    args = parser.parse_args(argv)
    try:
        response = requests.get(f"{args.url}/api/traces/{args.request_id}", timeout=10)
    except requests.RequestException as exc:
        print(f"The monitor at {args.url} does not answer ({exc}); is the stack up?", file=sys.stderr)
        return 1
    if response.status_code != 200:
        print(response.json().get("error", response.text), file=sys.stderr)
        return 1
    document = response.json()
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        Console().print(render(document))
        print("* critical path")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
