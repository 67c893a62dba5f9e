"""Worker entry point: ``celery -A processor.worker worker -Q processor``."""

from threadline import logs

logs.setup_celery_logging("processor")

from processor.celery_app import make_celery  # noqa: E402  (logging must be claimed first)

celery = make_celery()
