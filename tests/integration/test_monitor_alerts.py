"""Failure alerts at the sandbox's PagerDuty stand-in: one per task name and hour, delivered
through retries, undelivered ones visible. The consumer runs apart from the stack (to restart it
with another clock or key); failures are real (a malformed file) or sent as Celery's events."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from devtools.stack import poll_until
from tests.integration.monitor import (
    failing,
    lifecycle,
    post_file,
    running,
    send_events,
    settled,
    stack_without_consumer,
    wait_trace,
)
from tests.integration.notifications import Sandbox

pytestmark = pytest.mark.chaos
FAST_ALERT_RETRIES = {"ALERT_BACKOFF_BASE_SECONDS": "0.2", "ALERT_BACKOFF_CAP_SECONDS": "1"}
# The monitor's clock, set to half past an hour when these tests start: no test crosses an hour
# by accident (hour boundaries are what the dedup key is about).
OFFSET = 1800 - time.time() % 3600


@pytest.fixture(scope="module")
def alert_stack(start_stack, tmp_path_factory):
    return stack_without_consumer(start_stack, tmp_path_factory.mktemp("procfile"), **FAST_ALERT_RETRIES)


@pytest.fixture
def consumer(alert_stack):
    with running(alert_stack, MONITOR_CLOCK_OFFSET_SECONDS=str(OFFSET)) as process:
        yield process
    Sandbox(alert_stack).set_faults("all")


def sandbox_alerts(stack, dedup_key=None):
    url = f"http://127.0.0.1:{stack.env['SANDBOX_HTTP_PORT']}/admin/alerts"
    events = [entry["event"] for entry in requests.get(url, timeout=10).json()]
    return [event for event in events if dedup_key is None or event["dedup_key"] == dedup_key]


def monitor_alerts(stack, **params):
    response = requests.get(f"{stack.monitor_url}/api/alerts", params=params, timeout=10)
    assert response.status_code == 200, response.text
    return {alert["dedup_key"]: alert for alert in response.json()["alerts"]}


def fail(stack, name, exception="Boom('it broke')", request_id=None):
    request_id = request_id or f"it-alert-{uuid.uuid4().hex[:8]}"
    task_id = f"{request_id}_{uuid.uuid4()}"
    send_events(stack, failing(task_id, name, time.time(), exception))
    wait_trace(stack, request_id, settled((name,), "FAILURE"), f"{name} failed")
    return request_id, task_id


def hour_key(name, hours_later=0):
    return f"{name}:{time.strftime('%Y-%m-%dT%H', time.gmtime(time.time() + OFFSET + 3600 * hours_later))}"


def wait_state(stack, key, state):
    return poll_until(lambda: (monitor_alerts(stack).get(key) or {}).get("state") == state and monitor_alerts(
        stack)[key], f"alert {key} {state}", timeout=60)


def test_a_real_failure_pages_once_with_the_v2_shape_and_a_trace_link(alert_stack, consumer, tmp_path):
    assert post_file(alert_stack, "it-alert-file", tmp_path).status_code == 202
    wait_trace(alert_stack, "it-alert-file", settled(("processor.process_file",), "FAILURE"), "the file failed")
    key = hour_key("processor.process_file")
    wait_state(alert_stack, key, "sent")

    [event] = sandbox_alerts(alert_stack, key)
    assert event["event_action"] == "trigger" and event["routing_key"] == alert_stack.env["ALERT_ROUTING_KEY"]
    payload = event["payload"]
    assert payload["severity"] == "error" and payload["component"] == "processor.process_file"
    assert payload["timestamp"].startswith(key.split(":", 1)[1])
    assert payload["class"] == "MalformedFile" and payload["source"].startswith("processor@")
    assert payload["summary"].startswith("processor.process_file failed: MalformedFile(")
    details = payload["custom_details"]
    assert details["request_id"] == "it-alert-file" and details["task_id"].startswith("it-alert-file_")
    assert "line 3" in details["exception"] and details["retries"] == 0
    [link] = event["links"]
    assert link["href"] == f"{alert_stack.monitor_url}/traces/it-alert-file"
    assert requests.get(link["href"], timeout=10).status_code == 200


def test_one_alert_per_task_and_hour_across_a_restart_and_a_new_one_next_hour(alert_stack, consumer):
    name, other = f"it.flaky_{uuid.uuid4().hex[:6]}", f"it.other_{uuid.uuid4().hex[:6]}"
    fail(alert_stack, name)
    consumer.stop()
    consumer.start()
    fail(alert_stack, name)
    fail(alert_stack, other)
    key = hour_key(name)
    wait_state(alert_stack, hour_key(other), "sent")
    assert len(sandbox_alerts(alert_stack, key)) == 1
    assert monitor_alerts(alert_stack)[key]["repeats"] == 1 and len(sandbox_alerts(alert_stack, hour_key(other))) == 1

    consumer.stop()
    consumer.start(MONITOR_CLOCK_OFFSET_SECONDS=str(OFFSET + 3600))
    fail(alert_stack, name)
    next_hour = hour_key(name, hours_later=1)
    wait_state(alert_stack, next_hour, "sent")
    assert len(sandbox_alerts(alert_stack, key)) == 1 and len(sandbox_alerts(alert_stack, next_hour)) == 1


def test_a_retried_task_that_succeeds_pages_nobody(alert_stack, consumer):
    name, request_id = f"it.recovers_{uuid.uuid4().hex[:6]}", f"it-alert-ok-{uuid.uuid4().hex[:6]}"
    task_id, start = f"{request_id}_{uuid.uuid4()}", time.time()
    first = lifecycle(task_id, name, start)[:3]
    retry = [("task-retried", {"uuid": task_id, "hostname": "notifier@it-host", "exception": "Retry in 1s",
                               "timestamp": start + 0.05})]
    second = [(kind, {**fields, "retries": 1} if "retries" in fields else fields)
              for kind, fields in lifecycle(task_id, name, start + 1)]
    send_events(alert_stack, first + retry + second)
    wait_trace(alert_stack, request_id, settled((name,)), "the retried task succeeded")
    marker = f"it.marker_{uuid.uuid4().hex[:6]}"
    fail(alert_stack, marker)  # the consumer handles events in order: once this one pages, the first is done
    wait_state(alert_stack, hour_key(marker), "sent")
    assert hour_key(name) not in monitor_alerts(alert_stack) and not sandbox_alerts(alert_stack, hour_key(name))


def test_an_endpoint_failing_then_answering_gets_the_alert_once(alert_stack, consumer):
    sandbox = Sandbox(alert_stack)
    sandbox.set_faults("alerts", error_rate=1.0)  # every call answered 500 until cleared
    name = f"it.during_outage_{uuid.uuid4().hex[:6]}"
    fail(alert_stack, name)
    key = hour_key(name)
    poll_until(lambda: (monitor_alerts(alert_stack).get(key) or {}).get("attempts", 0) >= 2, "two failed attempts")
    assert monitor_alerts(alert_stack)[key]["state"] == "pending" and "HTTP 500" in monitor_alerts(
        alert_stack)[key]["last_error"]
    sandbox.set_faults("alerts")

    alert = wait_state(alert_stack, key, "sent")
    assert alert["attempts"] >= 3 and len(sandbox_alerts(alert_stack, key)) == 1


def test_an_alert_the_endpoint_rejects_is_not_retried_and_shows_undelivered(alert_stack, consumer):
    consumer.stop()
    consumer.start(ALERT_ROUTING_KEY="not-a-real-key")
    name = f"it.rejected_{uuid.uuid4().hex[:6]}"
    fail(alert_stack, name)
    alert = wait_state(alert_stack, hour_key(name), "undelivered")
    assert alert["attempts"] == 1 and "HTTP 400" in alert["last_error"] and "routing_key" in alert["last_error"]
    assert not sandbox_alerts(alert_stack, hour_key(name))
    assert hour_key(name) in monitor_alerts(alert_stack, state="undelivered")
