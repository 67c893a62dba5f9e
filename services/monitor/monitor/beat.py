"""The monitor's scheduler: ``celery -A monitor.beat beat`` publishes the daily report."""

from threadline import logs

logs.setup_celery_logging("monitor-beat")

from monitor.celery_app import from_env  # noqa: E402  (logging must be claimed first)

celery = from_env()
