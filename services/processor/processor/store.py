"""The processor reads only files under FILE_STORE: a task names a path, and a caller that
could name any path could make the processor read (and report on) any file of its machine."""

from __future__ import annotations

from pathlib import Path


class OutsideFileStore(ValueError):
    """The task named a file that is not under the file store."""


def inside(path: str, store: str) -> str:
    """``path`` with symbolic links and ``..`` resolved, when that lies under ``store``."""
    resolved, root = Path(path).resolve(), Path(store).resolve()
    if not resolved.is_relative_to(root) or resolved == root:
        raise OutsideFileStore(f"{path!r} is not a file under the file store; nothing was read")
    return str(resolved)
