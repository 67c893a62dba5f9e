"""Mail the report through SMTP (the sandbox's sink locally), plain text and HTML parts."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from monitor.config import Settings


def send(settings: Settings, subject: str, text: str, html: str) -> str:
    """Send one multipart mail to REPORT_TO; return its Message-ID."""
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = subject, settings.report_from, settings.report_to
    message["Message-ID"] = make_msgid(domain="threadline.local")
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.alert_timeout) as smtp:
        smtp.send_message(message)
    return str(message["Message-ID"])
