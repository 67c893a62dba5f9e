"""Events as the monitor may meet them: out of order, twice, malformed. Sent on Celery's event
exchange of a real broker, consumed by the stack's real monitor."""

from __future__ import annotations

import time
import uuid

from kombu import Connection, Producer

from tests.integration.monitor import EVENTS, WORKER, get_trace, lifecycle, send_events, settled, wait_trace


def test_events_out_of_order_merge_by_state_precedence(stack):
    request_id = f"it-ooo-{uuid.uuid4().hex[:8]}"
    task_id = f"{request_id}_{uuid.uuid4()}"
    # Newest first: a late task-started or task-sent must not undo the SUCCESS.
    send_events(stack, lifecycle(task_id, "notifier.send_push", time.time())[::-1])

    document = wait_trace(stack, request_id, settled(("notifier.send_push",)), "the task succeeded")

    [task] = document["tasks"]
    assert task["state"] == "SUCCESS" and task["worker"] == WORKER and task["queue"] == "push"
    assert task["sent_at"] < task["received_at"] < task["started_at"] < task["finished_at"]
    assert [attempt["state"] for attempt in task["attempts"]] == ["SUCCESS"]
    assert round(task["runtime_ms"]) == 50


def test_events_delivered_twice_change_nothing(stack):
    request_id = f"it-twice-{uuid.uuid4().hex[:8]}"
    events = lifecycle(f"{request_id}_{uuid.uuid4()}", "notifier.send_email", time.time())
    send_events(stack, events)
    first = wait_trace(stack, request_id, settled(("notifier.send_email",)), "the task succeeded")

    send_events(stack, events + lifecycle(f"{request_id}_{uuid.uuid4()}", "notifier.send_sms", time.time()))
    again = wait_trace(stack, request_id, settled(("notifier.send_sms",)), "the marker task after the repeat")

    [email] = [task for task in again["tasks"] if task["name"] == "notifier.send_email"]
    assert email == first["tasks"][0]
    assert again["summary"]["tasks"] == 2


def test_malformed_events_are_dropped_and_the_monitor_goes_on(stack):
    request_id = f"it-junk-{uuid.uuid4().hex[:8]}"
    with Connection(stack.env["BROKER_URL"]) as connection:
        producer = Producer(connection.channel(), exchange=EVENTS)
        producer.publish(b"\x00not json", routing_key="task.sent", content_type="application/json",
                         content_encoding="binary")
        producer.publish(b"pickled?", routing_key="task.sent", content_type="application/x-python-serialize",
                         content_encoding="binary")
        producer.publish({"type": "task-sent", "uuid": 42}, routing_key="task.sent", serializer="json")
        producer.publish({"type": "task-received", "uuid": f"{request_id}_x", "timestamp": "soon"},
                         routing_key="task.received", serializer="json")
        producer.publish({"type": "request-served", "request_id": "bad id!", "started": 1, "status": 200,
                          "duration_ms": 1, "timestamp": 1}, routing_key="request.served", serializer="json")
    good = f"{request_id}_{uuid.uuid4()}"
    send_events(stack, lifecycle(good, "notifier.send_push", time.time()))

    document = wait_trace(stack, request_id, settled(("notifier.send_push",)), "the good task after the junk")
    assert [task["task_id"] for task in document["tasks"]] == [good]
    assert get_trace(stack, "bad id!").status_code == 400
