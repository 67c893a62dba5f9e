"""Counting deliveries of a file that ended in a crash, so a file that kills the worker every
time (say, by exhausting memory) fails for good instead of being redelivered forever.

A crash (the pool process killed, the machine lost) leaves no chance to run code, and acks_late
with reject_on_worker_lost puts the message back in the queue. So the count is kept beside the
upload, where every processor worker finds it: written before the work starts, removed when the
task ends either way. A count found at start-up is the number of earlier crashes.
"""

from __future__ import annotations

from pathlib import Path


class ProcessorCrashed(RuntimeError):
    """The processor died on this file too many times."""


def begin(path: str, max_attempts: int) -> None:
    """Record one more attempt on ``path``; raise ProcessorCrashed when it has crashed too often."""
    marker = _marker(path)
    try:
        crashes = int(marker.read_text())
    except (FileNotFoundError, ValueError):
        crashes = 0
    if crashes >= max_attempts:
        marker.unlink(missing_ok=True)
        times = "once" if crashes == 1 else f"{crashes} times"
        raise ProcessorCrashed(f"processor crashed {times} on this file; giving up")
    marker.write_text(str(crashes + 1))


def end(path: str) -> None:
    """The attempt on ``path`` ended without a crash."""
    _marker(path).unlink(missing_ok=True)


def _marker(path: str) -> Path:
    return Path(f"{path}.attempts")
