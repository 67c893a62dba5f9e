"""GET /metrics: what the store holds, in Prometheus' text format, computed at each scrape.

Counters and histograms count the tasks retention removed too (see ``totals``); gauges
describe what is stored now.

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
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from monitor import totals
from monitor.config import Settings
from monitor.tables import alerts, consumer, tasks, workers

# Celery workers beat every 2 s; three missed beats and a worker counts as gone.
WORKER_STALE_SECONDS = 10.0
_HISTOGRAM_HELP = {"threadline_task_runtime_seconds": "Run time of finished tasks",
                   "threadline_task_queue_wait_seconds": "Queue wait of started tasks"}


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
            yield from _counted(totals.of_all_tasks(connection))
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


def _counted(sums: totals.Totals) -> Iterator[Any]:
    """The retries counter and the histograms, by task name, from their sums."""
    retries = CounterMetricFamily(totals.RETRIES, "Retries of the tasks the monitor stored", labels=["name"])
    for (metric, _, name), value in sorted(sums.items()):
        if metric == totals.RETRIES:
            retries.add_metric([name], value)
    yield retries
    for metric, documentation in _HISTOGRAM_HELP.items():
        family = HistogramMetricFamily(metric, documentation, labels=["name"])
        for name in sorted({name for (kind, sample, name) in sums if kind == metric and sample == "count"}):
            buckets = [(str(bound), sums.get((metric, str(bound), name), 0)) for bound in totals.BUCKETS]
            family.add_metric([name], [*buckets, ("+Inf", sums[(metric, "count", name)])], sums[(metric, "sum", name)])
        yield family
