"""Threadline: one request ID across a Flask app, Celery workers and every log line.

Adopt it in a few lines (see README.md beside this package):

    threadline.logs.configure("worker")      # or "api", "beat", "script"
    threadline.propagation.install(celery_app)
    threadline.flask.init_app(flask_app)
"""

from threadline.context import TraceIds, current, request_context
from threadline.ids import is_valid_request_id, make_task_id, new_request_id

__all__ = [
    "TraceIds",
    "current",
    "is_valid_request_id",
    "make_task_id",
    "new_request_id",
    "request_context",
]
