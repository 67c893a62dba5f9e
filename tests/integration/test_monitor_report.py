"""The daily failure report from a seeded day: mailed by the monitor's worker, printed by make report."""

from __future__ import annotations

import email
import re
import subprocess
import time
import uuid
from email import policy

import pytest
import requests
from celery import Celery
from threadline.conf import task_queue

from devtools.envfile import ROOT
from devtools.stack import poll_until
from tests.integration.monitor import failing, lifecycle, send_events, settled, wait_trace

pytestmark = pytest.mark.chaos
DAY = 86400


@pytest.fixture(scope="module")
def report_stack(start_stack):
    """A stack of its own: the report counts everything stored."""
    return start_stack()


def seed(stack) -> dict[str, list[str]]:
    """Three failures of it.alpha, one of it.beta, one of it.alpha two days ago, one retried success."""
    now, seeded = time.time(), {"it.alpha": [], "it.beta": []}
    for name, exception, at in [("it.alpha", "Boom('one')", now - 3600), ("it.alpha", "Boom('two')", now - 600),
                                ("it.alpha", "Boom('three')", now - 60), ("it.beta", "Crash('x')", now - 30),
                                ("it.alpha", "Boom('old')", now - 2 * DAY)]:
        request_id = f"it-report-{uuid.uuid4().hex[:8]}"
        send_events(stack, failing(f"{request_id}_{uuid.uuid4()}", name, at, exception))
        if at > now - DAY:
            seeded[name].append(request_id)
        wait_trace(stack, request_id, settled((name,), "FAILURE"), "seeded failure stored")
    request_id = f"it-report-retry-{uuid.uuid4().hex[:8]}"
    task_id = f"{request_id}_{uuid.uuid4()}"
    second = [(kind, {**fields, "retries": 1} if "retries" in fields else fields)
              for kind, fields in lifecycle(task_id, "it.gamma", now - 10)]
    send_events(stack, [*lifecycle(task_id, "it.gamma", now - 20)[:3],
                        ("task-retried", {"uuid": task_id, "hostname": "notifier@it-host", "timestamp": now - 19}),
                        *second])
    wait_trace(stack, request_id, settled(("it.gamma",)), "seeded retry stored")
    return seeded


def test_the_report_of_a_seeded_day_is_mailed_and_printed_with_the_same_figures(report_stack):
    seeded = seed(report_stack)
    app = Celery(broker=report_stack.env["BROKER_URL"])
    try:
        app.send_task("monitor.send_daily_report", queue=task_queue("monitor"))
    finally:
        app.close()
    sink = f"http://127.0.0.1:{report_stack.env['SANDBOX_HTTP_PORT']}/admin/deliveries"

    def report_mail():
        mails = [d for d in requests.get(sink, params={"channel": "email"}, timeout=10).json()
                 if d["to"] == report_stack.env["REPORT_TO"]]
        return mails[-1] if mails else None

    mail = email.message_from_string(poll_until(report_mail, "the report at the SMTP sink")["content"],
                                     policy=policy.default)
    assert mail["Subject"] == "Threadline: 4 failed tasks in the last 24 hours"
    text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = mail.get_body(("html",)).get_content()
    assert re.search(r"^\s+3  it\.alpha  Boom  first ", text, re.MULTILINE), text
    assert re.search(r"^\s+1  it\.beta  Crash  first ", text, re.MULTILINE), text
    assert re.search(r"^\s+1  it\.gamma$", text, re.MULTILINE), text
    links = re.findall(r"https?://\S+/traces/it-report-[0-9a-f]+", text)
    assert sorted(link.rsplit("/", 1)[1] for link in links) == sorted(seeded["it.alpha"] + seeded["it.beta"])
    assert all(requests.get(link, timeout=10).status_code == 200 for link in links)
    assert "<table>" in html and all(f"/traces/{rid}" in html for rid in seeded["it.alpha"])

    printed = subprocess.run(["make", "-s", "report"], cwd=ROOT, env=report_stack.env, capture_output=True,
                             text=True, timeout=60, check=False)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith("Threadline: 4 failed tasks in the last 24 hours")
    same = lambda body: [line for line in body.splitlines() if "  it." in line]  # noqa: E731
    assert same(printed.stdout) == same(text)
