"""Callback worker entry point: ``celery -A api.worker worker -Q api``."""

from threadline import logs

logs.setup_celery_logging("api-worker")

from api.app import create_app  # noqa: E402  (logging must be claimed before Celery starts)

celery = create_app().extensions["celery"]
