"""Worker entry point: ``celery -A notifier.worker worker -Q notifications,push,email,sms``."""

from threadline import logs

logs.setup_celery_logging("notifier")

from notifier.celery_app import make_celery  # noqa: E402  (logging must be claimed first)

celery = make_celery()
