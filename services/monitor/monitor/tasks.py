"""The monitor's own task: the daily failure report, which beat publishes at REPORT_HOUR (UTC)."""

from __future__ import annotations

import logging

from celery import shared_task

from monitor import mail, report
from monitor.config import Settings

log = logging.getLogger(__name__)


@shared_task(name="monitor.send_daily_report", ignore_result=True)
def send_daily_report() -> str:
    settings = Settings.from_env()
    built = report.build(settings)
    message_id = mail.send(settings, built.subject, built.text, built.html)
    log.info("Daily report sent to %s: %s", settings.report_to, built.subject)
    return message_id
