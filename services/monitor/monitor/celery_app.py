"""The monitor's own Celery app: the broker connection its consumer reads events through."""

from __future__ import annotations

from celery import Celery
from celery.schedules import crontab
from threadline import propagation
from threadline.conf import celery_config, env

from monitor.config import Settings

# The monitor's own task queue (its scheduled jobs); it reads events from Settings.queue.
QUEUES = ("monitor",)


def make_celery(settings: Settings) -> Celery:
    app = Celery("monitor", include=["monitor.tasks"])
    app.conf.update(celery_config(settings.broker_url, QUEUES))
    app.conf.task_ignore_result = True
    app.conf.task_routes = {"monitor.*": {"queue": "monitor"}}
    app.conf.beat_schedule = {
        "daily-failure-report": {"task": "monitor.send_daily_report", "schedule": crontab(hour=settings.report_hour,
                                                                                          minute=0)},
    }
    # Beat keeps its schedule file here (several stacks on one machine must not share one).
    app.conf.beat_schedule_filename = env("MONITOR_BEAT_SCHEDULE", "data/monitor-beat-schedule")
    # Threadline's tracing scheduler: each report gets a request ID of its own.
    return propagation.install(app)


def from_env() -> Celery:
    """The app of the monitor's worker and beat processes, configured from the environment."""
    return make_celery(Settings.from_env())
