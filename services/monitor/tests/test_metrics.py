"""/metrics' families, the example alerting rules that use them, and counters that never fall."""

from __future__ import annotations

import re
import time
from pathlib import Path

import yaml
from monitor import migrate, retention
from monitor.config import Settings
from monitor.metrics import StoreCollector
from monitor.tables import requests, tasks
from sqlalchemy.engine import Engine
from threadline.database import make_engine

RULES = Path(__file__).resolve().parent.parent / "prometheus" / "rules.yml"


def monitor_database(tmp_path, monkeypatch) -> Engine:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'monitor.db'}")
    monkeypatch.setenv("BROKER_URL", "amqp://guest:guest@127.0.0.1:1//")  # nobody: the depth is NaN
    engine = make_engine(Settings.from_env().database_url)
    migrate.upgrade(engine)
    return engine


def scrape(engine: Engine) -> dict[tuple[str, str, tuple[tuple[str, str], ...]], float]:
    """Every sample: (family type, sample name, labels) -> value."""
    return {(family.type, sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in StoreCollector(engine, Settings.from_env()).collect() for sample in family.samples}


def test_every_rule_is_complete_and_uses_metrics_the_monitor_exports(tmp_path, monkeypatch):
    engine = monitor_database(tmp_path, monkeypatch)
    names = {family.name for family in StoreCollector(engine, Settings.from_env()).collect()}
    rules = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} >= {"TaskFailureRatioHigh", "MonitorQueueBacklog", "MonitorLagging",
                                                  "WorkerOffline"}
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["summary"], rule
        used = set(re.findall(r"\bthreadline_\w+", rule["expr"]))
        assert used and used <= names, (rule["alert"], used - names)
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]


def store_request(engine: Engine, request_id: str, seen_at: float, *named: tuple[str, int, float]) -> None:
    """A request seen at ``seen_at`` with a task per (name, retries, run time in ms)."""
    with engine.begin() as connection:
        connection.execute(requests.insert().values(request_id=request_id, first_seen_at=seen_at, last_seen_at=seen_at))
        connection.execute(tasks.insert(), [
            {"task_id": f"{request_id}_{n}", "request_id": request_id, "name": name, "state": "SUCCESS",
             "retries": retries, "runtime_ms": runtime_ms, "queue_wait_ms": 20.0}
            for n, (name, retries, runtime_ms) in enumerate(named)
        ])


def test_counters_and_histograms_never_fall_when_retention_removes_tasks(tmp_path, monkeypatch):
    engine = monitor_database(tmp_path, monkeypatch)
    now = time.time()
    store_request(engine, "old", now - 10 * 86400, ("it.a", 2, 30.0), ("it.b", 0, 700.0))
    store_request(engine, "new", now, ("it.a", 1, 3.0))
    before = scrape(engine)

    assert retention.purge(engine, now - 86400) == 1
    after = scrape(engine)
    store_request(engine, "newer", now, ("it.a", 4, 40.0))
    later = scrape(engine)

    stored_a = ("gauge", "threadline_tasks", (("name", "it.a"), ("state", "SUCCESS")))
    assert (before[stored_a], after[stored_a]) == (2, 1)  # the gauge tells what is stored now
    counted = {key: value for key, value in before.items() if key[0] in ("counter", "histogram")}
    assert counted and {key: after[key] for key in counted} == counted
    retries_a = ("counter", "threadline_task_retries_total", (("name", "it.a"),))
    assert (before[retries_a], later[retries_a]) == (3, 7)
    runs_a = ("histogram", "threadline_task_runtime_seconds_count", (("name", "it.a"),))
    fast_a = ("histogram", "threadline_task_runtime_seconds_bucket", (("le", "0.005"), ("name", "it.a")))
    assert (later[runs_a], later[fast_a]) == (3, 1)
    assert later[("histogram", "threadline_task_runtime_seconds_sum", (("name", "it.b"),))] == 0.7
