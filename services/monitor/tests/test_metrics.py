"""/metrics' families and the example alerting rules that use them."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from monitor import migrate
from monitor.config import Settings
from monitor.metrics import StoreCollector
from threadline.database import make_engine

RULES = Path(__file__).resolve().parent.parent / "prometheus" / "rules.yml"


def exported(tmp_path, monkeypatch) -> set[str]:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'monitor.db'}")
    monkeypatch.setenv("BROKER_URL", "amqp://guest:guest@127.0.0.1:1//")  # nobody: the depth is NaN
    engine = make_engine(Settings.from_env().database_url)
    migrate.upgrade(engine)
    return {family.name for family in StoreCollector(engine, Settings.from_env()).collect()}


def test_every_rule_is_complete_and_uses_metrics_the_monitor_exports(tmp_path, monkeypatch):
    names = exported(tmp_path, monkeypatch)
    rules = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} >= {"TaskFailureRatioHigh", "MonitorQueueBacklog", "MonitorLagging",
                                                  "WorkerOffline"}
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["summary"], rule
        used = set(re.findall(r"\bthreadline_\w+", rule["expr"]))
        assert used and used <= names, (rule["alert"], used - names)
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
