"""gunicorn settings for the API; the environment overrides the defaults.

gthread workers: a slow upload, or a POST /api/files/?validate=sync waiting for the
processor, holds one thread, not a whole worker (tests/integration/test_slow_clients.py
measures it; README.md, "Guarantees", has the figures). The worker timeout then only catches
a worker whose main loop hangs; a request may take longer.
"""

import os

bind = f"{os.environ.get('API_HOST', '127.0.0.1')}:{os.environ.get('API_PORT', '8000')}"
workers = int(os.environ.get("API_WORKERS", "4"))
worker_class = "threadline.gunicorn.ThreadWorker"
threads = int(os.environ.get("API_THREADS", "16"))
proc_name = "api"
logger_class = "threadline.gunicorn.Logger"
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
