"""gunicorn entry point: ``gunicorn -c services/monitor/gunicorn.conf.py monitor.wsgi:app``."""

from monitor.serve import create_app

app = create_app()
