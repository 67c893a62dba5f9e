"""The relay removes uploads that no file record names, and only those."""

from __future__ import annotations

import os
import time
from datetime import timedelta

from api.db import open_database
from api.relay_rounds import remove_orphaned_uploads
from sqlalchemy import text


def test_uploads_no_row_names_are_removed_once_old(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'api.db'}")
    store = tmp_path / "files"
    store.mkdir()
    named, orphan, recent = (store / f"{name}.csv" for name in ("named", "orphan", "recent"))
    for path in (named, orphan, recent):
        path.write_text("a,b\n1,2\n")
    an_hour_ago = time.time() - 3600
    for path in (named, orphan):
        os.utime(path, (an_hour_ago, an_hour_ago))
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO files (request_id, name, path, status, rows_done, percent, updated_at)"
                                " VALUES ('r', 'named.csv', :path, 'pending', 0, 0, '2026-01-01')"),
                           {"path": str(named.resolve())})

    removed = remove_orphaned_uploads(engine, store, older_than=timedelta(minutes=10))

    assert removed == 1
    assert named.exists() and recent.exists() and not orphan.exists()
