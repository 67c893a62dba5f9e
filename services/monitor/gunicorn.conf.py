"""gunicorn settings for the monitor's pages and API; the environment overrides the defaults.

gthread workers, as the API's: a slow client holds one thread, not a whole worker, and
gunicorn's own refusals (a malformed request line, headers over its limits) are JSON too.
"""

import os

bind = f"{os.environ.get('MONITOR_HOST', '127.0.0.1')}:{os.environ.get('MONITOR_PORT', '8070')}"
workers = int(os.environ.get("MONITOR_WEB_WORKERS", "2"))
worker_class = "threadline.gunicorn.ThreadWorker"
threads = int(os.environ.get("MONITOR_WEB_THREADS", "8"))
proc_name = "monitor-web"
logger_class = "threadline.gunicorn.Logger"
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
