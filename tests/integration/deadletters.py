"""The dead-letter queue through its documented command, as an operator would use it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

from devtools.stack import ROOT, Stack


def _run(stack: Stack, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "threadline.deadletter", command], env=stack.env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)


def dead_letters(stack: Stack) -> list[dict[str, Any]]:
    """`python -m threadline.deadletter list`: one JSON object per dead-lettered message."""
    return [json.loads(line) for line in _run(stack, "list").stdout.splitlines() if line.strip()]


def redrive(stack: Stack) -> int:
    """`python -m threadline.deadletter redrive`; how many messages it says it re-drove."""
    found = re.search(r"(\d+) message\(s\) re-driven", _run(stack, "redrive").stderr)
    assert found, "redrive did not say how many messages it re-drove"
    return int(found[1])
