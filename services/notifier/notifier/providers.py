"""Calls to the outside world, each with a timeout and an idempotency key.

Failures are sorted once, here: ``TransientError`` (connection errors, timeouts, 5xx, 429,
SMTP 4xx) is worth retrying; ``PermanentError`` (other 4xx, SMTP 5xx) is not.
"""

from __future__ import annotations

import functools
import smtplib
from email.mime.text import MIMEText

import requests
from threadline import current
from threadline.http import traced_session

from notifier.config import Settings

SENDER = "notifications@threadline.local"
# Which JSON field carries the address for each HTTP channel.
_ADDRESS_FIELD = {"push": "device_token", "sms": "to"}


class TransientError(Exception):
    pass


class PermanentError(Exception):
    pass


@functools.cache
def _session() -> requests.Session:
    return traced_session(pool_maxsize=4)


def deliver(config: Settings, channel: str, key: str, address: str, text: str) -> None:
    """Hand one notification to ``channel``'s provider; it deduplicates by ``key``."""
    if channel == "email":
        send_email(config.smtp_host, config.smtp_port, key, address, text, config.provider_timeout)
    else:
        url = config.push_url if channel == "push" else config.sms_url
        post(channel, url, key, {_ADDRESS_FIELD[channel]: address, "text": text}, config.provider_timeout)


def post(channel: str, url: str, key: str, payload: dict[str, str], timeout: float) -> None:
    """POST ``payload`` to an HTTP provider; the provider deduplicates by ``key``."""
    try:
        # A redirect is not followed: requests would turn the POST into a GET, which delivers nothing.
        response = _session().post(url, json=payload, headers={"Idempotency-Key": key}, timeout=timeout,
                                   allow_redirects=False)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"{channel} provider unreachable: {type(exc).__name__}") from None
    status = response.status_code
    if status == 429 or status >= 500:
        raise TransientError(f"{channel} provider answered HTTP {status}")
    if status >= 400:
        raise PermanentError(f"{channel} provider refused the request: HTTP {status} {_error_text(response)}")
    if not 200 <= status < 300:
        # A redirect or an informational answer says nothing of the delivery: try again.
        raise TransientError(f"{channel} provider answered HTTP {status}, which does not accept a delivery")


def send_email(host: str, port: int, key: str, address: str, text: str, timeout: float) -> None:
    """Send one e-mail whose Message-ID is ``key``: receivers deduplicate by it."""
    # The compat32 message class: EmailMessage's header objects cost five times as much CPU.
    mail = MIMEText(text)
    mail["From"], mail["To"], mail["Subject"] = SENDER, address, "You have a new message"
    mail["Message-ID"] = f"<{key}@threadline.local>"
    ids = current()
    if ids is not None:
        mail["X-Request-ID"] = ids.request_id
    try:
        _send_mail(host, port, mail, timeout)
    except smtplib.SMTPResponseException as exc:
        kind = TransientError if 400 <= exc.smtp_code < 500 else PermanentError
        raise kind(f"email server answered {exc.smtp_code}") from None
    except smtplib.SMTPRecipientsRefused:
        raise PermanentError("email server refused the recipient") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise TransientError(f"email server unreachable: {type(exc).__name__}") from None


# This process's open SMTP connection per server: a connection, EHLO and QUIT for every mail
# cost both sides more than the mail itself.
_smtp_connections: dict[tuple[str, int], smtplib.SMTP] = {}


def _send_mail(host: str, port: int, mail: MIMEText, timeout: float) -> None:
    smtp = _open_smtp(host, port, timeout)
    try:
        smtp.send_message(mail)
    except BaseException:
        # Whatever failed (a refusal, a disconnect, a time limit mid-command), the session's
        # state is unknown, and so is whether the server kept the mail: never resend here. The
        # task's retry sends it again, at least once.
        smtp.close()
        raise
    _smtp_connections[(host, port)] = smtp


def _open_smtp(host: str, port: int, timeout: float) -> smtplib.SMTP:
    """The open connection to the server, checked with NOOP, or a new one."""
    smtp = _smtp_connections.pop((host, port), None)
    if smtp is not None:
        try:
            if smtp.noop()[0] == 250:
                return smtp
        except (smtplib.SMTPException, OSError):
            pass
        # The server closed the idle connection (a timeout, a restart); nothing was sent on it.
        smtp.close()
    return smtplib.SMTP(host, port, timeout=timeout)


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    # Providers answer errors as {"error": ...}; anything else is shown as it is, cut short.
    return str(body.get("error", "") if isinstance(body, dict) else body)[:200]
