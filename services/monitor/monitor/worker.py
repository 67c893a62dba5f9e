"""The monitor's worker: ``celery -A monitor.worker worker -Q monitor`` runs the report task."""

from threadline import logs

logs.setup_celery_logging("monitor-worker")

from monitor.celery_app import from_env  # noqa: E402  (logging must be claimed first)

celery = from_env()
