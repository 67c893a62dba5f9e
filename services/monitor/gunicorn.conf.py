"""gunicorn settings for the monitor's pages and API; the environment overrides the defaults."""

import os

bind = f"{os.environ.get('MONITOR_HOST', '127.0.0.1')}:{os.environ.get('MONITOR_PORT', '8070')}"
workers = int(os.environ.get("MONITOR_WEB_WORKERS", "2"))
proc_name = "monitor-web"
logger_class = "threadline.gunicorn.Logger"
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
