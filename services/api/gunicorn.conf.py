"""gunicorn settings for the API; the environment overrides the defaults."""

import os

bind = f"{os.environ.get('API_HOST', '127.0.0.1')}:{os.environ.get('API_PORT', '8000')}"
workers = int(os.environ.get("API_WORKERS", "4"))
proc_name = "api"
logger_class = "threadline.gunicorn.Logger"
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
