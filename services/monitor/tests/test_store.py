"""Two monitors on one PostgreSQL database: batches that touch the same new task take turns."""

from __future__ import annotations

import threading

from monitor import merge, migrate
from monitor.store import Store
from monitor.tables import tasks
from sqlalchemy import select
from threadline.database import make_engine

from devtools.private_stack import postgres_database

TASK = "it-store-0123456789abcdef_-O7B3fXy5ikRCs8EgA0k"


def commit(store: Store, events: list[dict[str, object]], loaded: threading.Event | None = None) -> None:
    """One batch as the consumer commits it; ``loaded`` is set once its rows are read."""
    with store.engine.begin() as connection:
        batch = store.load(connection, merge.task_ids_of(events))
        if loaded is not None:
            loaded.set()
            threading.Event().wait(0.5)  # the other monitor's batch arrives meanwhile
        for event in events:
            merge.apply(batch, event)
        merge.summarise(batch)
        store.save(connection, batch)


def test_two_monitors_merging_one_new_task_keep_both_events():
    with postgres_database("threadline_monitor_store") as url:
        engine = make_engine(url)
        migrate.upgrade(engine)
        store = Store(engine)
        sent = {"type": "task-sent", "uuid": TASK, "timestamp": 10.0, "name": "notifier.send_push",
                "queue": "push", "retries": 0}
        done = {"type": "task-succeeded", "uuid": TASK, "timestamp": 10.5, "hostname": "w@h", "runtime": 0.3}
        loaded = threading.Event()
        first = threading.Thread(target=commit, args=(store, [sent], loaded))
        first.start()
        loaded.wait(10)
        commit(store, [done])
        first.join(10)

        with engine.connect() as connection:
            row = connection.execute(select(tasks).where(tasks.c.task_id == TASK)).mappings().one()
        engine.dispose()
    assert (row["state"], row["queue"], row["name"]) == ("SUCCESS", "push", "notifier.send_push")
