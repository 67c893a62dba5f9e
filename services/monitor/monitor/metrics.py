"""GET /metrics: what the store holds, in Prometheus' text format, computed at each scrape.

Labels stay few: task name, state, alert state. No request or task IDs, no worker host names
(short-lived pods would each make a series).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from kombu import Connection
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine

from monitor.config import Settings
from monitor.tables import alerts, consumer, tasks, workers

# Celery workers beat every 2 s; three missed beats and a worker counts as gone.
WORKER_STALE_SECONDS = 10.0
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class StoreCollector(Collector):
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine, self.settings = engine, settings

    def collect(self) -> Iterator[Any]:
        with self.engine.connect() as connection:
            by_state = GaugeMetricFamily("threadline_tasks", "Stored tasks by name and state", labels=["name", "state"])
            query = select(tasks.c.name, tasks.c.state, func.count()).group_by(tasks.c.name, tasks.c.state)
            for name, state, count in connection.execute(query):
                by_state.add_metric([name or "", state], count)
            yield by_state
            retries = CounterMetricFamily("threadline_task_retries", "Retries of stored tasks", labels=["name"])
            for name, retried in connection.execute(select(tasks.c.name, func.sum(tasks.c.retries)).group_by(
                    tasks.c.name)):
                retries.add_metric([name or ""], retried or 0)
            yield retries
            yield self._histogram(connection, "threadline_task_runtime_seconds", "Run time of finished tasks",
                                  tasks.c.runtime_ms)
            yield self._histogram(connection, "threadline_task_queue_wait_seconds", "Queue wait of started tasks",
                                  tasks.c.queue_wait_ms)
            alert_states = GaugeMetricFamily("threadline_alerts", "Alerts by delivery state", labels=["state"])
            for state, count in connection.execute(select(alerts.c.state, func.count()).group_by(alerts.c.state)):
                alert_states.add_metric([state], count)
            yield alert_states
            beat = connection.execute(select(func.sum(consumer.c.events), func.max(consumer.c.beat_at),
                                             func.max(consumer.c.lag_seconds))).one()
        yield self._workers()
        yield CounterMetricFamily("threadline_monitor_events", "Events the monitor committed", value=beat[0] or 0)
        yield GaugeMetricFamily("threadline_monitor_heartbeat_age_seconds", "Seconds since the consumer's last commit",
                                value=time.time() - beat[1] if beat[1] else float("nan"))
        yield GaugeMetricFamily("threadline_monitor_lag_seconds", "Age of the newest event in the last batch",
                                value=beat[2] if beat[2] is not None else float("nan"))
        yield GaugeMetricFamily("threadline_monitor_queue_depth", "Events waiting in the monitor's queue",
                                value=self._queue_depth())

    def _histogram(self, connection: Any, metric: str, documentation: str, column: Any) -> HistogramMetricFamily:
        seconds = column / 1000
        counts = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in BUCKETS]
        query = select(tasks.c.name, func.count(), func.sum(seconds), *counts).where(column.is_not(None))
        family = HistogramMetricFamily(metric, documentation, labels=["name"])
        for name, total, added, *cumulative in connection.execute(query.group_by(tasks.c.name)):
            buckets = [(str(bound), count or 0) for bound, count in zip(BUCKETS, cumulative, strict=True)]
            family.add_metric([name or ""], [*buckets, ("+Inf", total)], added or 0.0)
        return family

    def _workers(self) -> GaugeMetricFamily:
        # Labelled by the node name's prefix ("notifier" of notifier@host): one series per kind of
        # worker, however many hosts come and go.
        family = GaugeMetricFamily("threadline_workers_online", "Workers beating, by node name prefix",
                                   labels=["worker"])
        fresh = time.time() - WORKER_STALE_SECONDS
        online: dict[str, int] = {}
        with self.engine.connect() as connection:
            for hostname, is_online, seen in connection.execute(select(workers.c.hostname, workers.c.online,
                                                                       workers.c.last_seen_at)):
                kind = hostname.split("@", 1)[0]
                online[kind] = online.get(kind, 0) + (1 if is_online and seen >= fresh else 0)
        for kind, count in sorted(online.items()):
            family.add_metric([kind], count)
        return family

    def _queue_depth(self) -> float:
        try:
            with Connection(self.settings.broker_url, connect_timeout=2) as connection:
                _, depth, _ = connection.default_channel.queue_declare(self.settings.queue, passive=True)
                return float(depth)
        except Exception:  # the broker away or the queue not declared yet: unknown, not zero
            return float("nan")

