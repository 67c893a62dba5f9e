"""The monitor's trace of a request: every task it caused, as a tree, through its API."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from devtools.envfile import ROOT
from devtools.stack import poll_until
from tests.integration.monitor import (
    CHANNEL_TASKS,
    FAN_OUT,
    get_trace,
    post_file,
    settled,
    tasks_by_name,
    wait_trace,
    walk,
)
from tests.integration.support import post_message

TIMES = ("sent_at", "received_at", "started_at", "finished_at")


def test_the_readme_post_is_one_trace_with_the_request_at_its_root(stack):
    response = post_message(stack, "it-mon-1", recipient=1)
    assert response.status_code == 202

    document = wait_trace(stack, "it-mon-1", lambda d: settled((FAN_OUT, *CHANNEL_TASKS))(d)
                          and d["request"]["method"] is not None, "the request and its four tasks succeeded")

    request = document["request"]
    assert (request["method"], request["path"], request["status"]) == ("POST", "/api/message/", 202)
    assert request["duration_ms"] > 0
    [fan_out] = document["tasks"]
    assert fan_out["name"] == FAN_OUT and fan_out["queue"] == "notifications"
    assert sorted(child["name"] for child in fan_out["children"]) == sorted(CHANNEL_TASKS)
    for node in walk(document["tasks"]):
        assert node["task_id"].startswith("it-mon-1_")
        assert node["state"] == "SUCCESS" and node["retries"] == 0 and len(node["attempts"]) == 1
        # The fan-out runs on notifier@, each channel task on its own channel's worker.
        assert node["worker"].startswith("notifier@" if node["name"] == FAN_OUT else "notifier-"), node
        times = [node[name] for name in TIMES]
        assert None not in times and times == sorted(times), node
        assert request["started_at"] <= node["sent_at"]
        assert node["queue_wait_ms"] >= 0 and node["runtime_ms"] > 0
    summary = document["summary"]
    assert summary["tasks"] == 4 and summary["by_state"] == {"SUCCESS": 4}
    assert summary["critical_path"][0] == fan_out["task_id"] and len(summary["critical_path"]) == 2
    assert summary["wall_ms"] >= max(node["runtime_ms"] for node in walk(document["tasks"]))


def test_unknown_and_ill_formed_request_ids_get_json_errors(stack):
    unknown = get_trace(stack, "never-sent-anything")
    assert unknown.status_code == 404 and "never-sent-anything" in unknown.json()["error"]
    bad = get_trace(stack, "x" * 65)
    assert bad.status_code == 400 and "request ID" in bad.json()["error"]
    listing = requests.get(f"{stack.monitor_url}/api/traces", params={"state": "BROKEN"}, timeout=10)
    assert listing.status_code == 400 and "state must be one of" in listing.json()["error"]
    listing = requests.get(f"{stack.monitor_url}/api/traces", params={"since": "yesterday"}, timeout=10)
    assert listing.status_code == 400 and "ISO 8601" in listing.json()["error"]


def test_the_list_finds_failed_requests_newest_first(stack, tmp_path):
    ok = post_message(stack, "it-mon-list-ok", recipient=1)
    assert ok.status_code == 202
    failed = post_file(stack, "it-mon-list-bad", tmp_path, "name,age\nada,36,extra\n")
    assert failed.status_code == 202
    wait_trace(stack, "it-mon-list-bad", settled(("processor.process_file",), "FAILURE"), "the file failed")
    wait_trace(stack, "it-mon-list-ok", settled((FAN_OUT, *CHANNEL_TASKS)), "the message delivered")

    def listed(**params):
        response = requests.get(f"{stack.monitor_url}/api/traces", params=params, timeout=10)
        assert response.status_code == 200, response.text
        return [item["request_id"] for item in response.json()["traces"]]

    assert "it-mon-list-bad" in listed(state="FAILURE")
    assert "it-mon-list-ok" not in listed(state="FAILURE")
    assert listed(state="FAILURE", task="processor.process_file")[0] == "it-mon-list-bad"
    recent = listed(limit=500)
    assert recent.index("it-mon-list-bad") < recent.index("it-mon-list-ok")


def test_a_request_that_published_a_message_and_a_file_shows_both_trees(stack, tmp_path):
    assert post_message(stack, "it-mon-both", recipient=1).status_code == 202
    response = post_file(stack, "it-mon-both", tmp_path, "name,age\nada,36\n")
    assert response.status_code == 202

    document = wait_trace(stack, "it-mon-both", settled((FAN_OUT, *CHANNEL_TASKS, "processor.process_file",
                                                         "api.file_processed")), "both workflows succeeded")

    roots = {node["name"]: node for node in document["tasks"]}
    assert set(roots) == {FAN_OUT, "processor.process_file"}
    assert sorted(child["name"] for child in roots[FAN_OUT]["children"]) == sorted(CHANNEL_TASKS)
    assert "api.file_processed" in {child["name"] for child in roots["processor.process_file"]["children"]}
    assert {node["queue"] for node in walk(document["tasks"]) if node["name"] == "api.file_processed"} == {"api"}


def test_a_failed_task_shows_failure_with_its_reason(stack, tmp_path):
    response = post_file(stack, "it-mon-fail", tmp_path)
    assert response.status_code == 202

    document = wait_trace(stack, "it-mon-fail", settled(("processor.process_file",), "FAILURE"), "the file failed")

    [failed] = tasks_by_name(document)["processor.process_file"]
    assert "MalformedFile" in failed["exception"] and "line 3" in failed["exception"]
    assert failed["finished_at"] is not None and failed["attempts"][-1]["state"] == "FAILURE"
    assert document["summary"]["by_state"].get("FAILURE") == 1


def test_make_trace_prints_the_tree_and_the_raw_document(stack, tmp_path):
    assert post_message(stack, "it-mon-cli", recipient=1).status_code == 202
    post_file(stack, "it-mon-cli", tmp_path)
    wait_trace(stack, "it-mon-cli", lambda d: settled((FAN_OUT, *CHANNEL_TASKS))(d)
               and settled(("processor.process_file",), "FAILURE")(d), "delivered, and the file failed")

    def make_trace(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["make", "-s", "trace", "RID=it-mon-cli", f"ARGS={' '.join(args)}"], cwd=ROOT,
                              env=stack.env, capture_output=True, text=True,
                              timeout=60, check=False)

    tree = make_trace()
    assert tree.returncode == 0, tree.stderr
    lines = tree.stdout.splitlines()
    assert "it-mon-cli" in lines[0] and "POST /api/files/" in lines[0]
    [failed] = [n for n, line in enumerate(lines) if "processor.process_file" in line]
    assert "FAILURE" in lines[failed] and "MalformedFile" in lines[failed + 1]
    [fan_out] = [line for line in lines if FAN_OUT in line]
    for name in CHANNEL_TASKS:  # children are indented below their parent
        [line] = [line for line in lines if name in line]
        assert line.index(name) > fan_out.index(FAN_OUT)
    raw = make_trace("--json")
    assert raw.returncode == 0 and json.loads(raw.stdout)["request"]["request_id"] == "it-mon-cli"
    unknown = subprocess.run(["make", "-s", "trace", "RID=never-seen"], cwd=ROOT, capture_output=True, text=True,
                             env=stack.env, timeout=60, check=False)
    assert unknown.returncode != 0 and "no trace for request never-seen" in unknown.stderr


def test_metrics_parse_and_count_what_is_stored(stack):
    assert post_message(stack, "it-mon-metrics", recipient=1).status_code == 202
    wait_trace(stack, "it-mon-metrics", settled((FAN_OUT, *CHANNEL_TASKS)), "the message delivered")

    def stored_by_state() -> Counter[str]:
        listing = requests.get(f"{stack.monitor_url}/api/traces", params={"limit": 500}, timeout=10).json()
        assert len(listing["traces"]) < 500, "the comparison needs every stored request"
        return sum((Counter(item["summary"]["by_state"]) for item in listing["traces"]), Counter())

    def scraped() -> dict[str, Any]:
        response = requests.get(f"{stack.monitor_url}/metrics", timeout=10)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
        return {family.name: family for family in text_string_to_metric_families(response.text)}

    def consistent() -> dict[str, Any] | None:
        families = scraped()
        by_state: Counter[str] = Counter()
        for sample in families["threadline_tasks"].samples:
            by_state[sample.labels["state"]] += int(sample.value)
        return families if by_state == stored_by_state() else None

    families = poll_until(consistent, "/metrics agrees with the stored traces", timeout=60)
    runtime = {s.labels["name"]: s.value for s in families["threadline_task_runtime_seconds"].samples
               if s.name.endswith("_count")}
    assert runtime[FAN_OUT] >= 1 and families["threadline_monitor_events"].samples[0].value > 0
    assert families["threadline_monitor_queue_depth"].samples[0].value >= 0
    online = {s.labels["worker"]: s.value for s in families["threadline_workers_online"].samples}
    assert online.get("notifier") == 1 and online.get("processor") == 1
    labels = {name for family in families.values() for sample in family.samples for name in sample.labels}
    assert labels <= {"name", "state", "worker", "le"}


def test_the_event_queue_is_named_durable_and_bounded(stack):
    vhost = stack.env["BROKER_URL"].rsplit("/", 1)[1]
    listed = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "durable", "auto_delete",
                             "arguments", "--formatter", "json"], capture_output=True, text=True, check=True,
                            timeout=60).stdout
    queue = next(q for q in json.loads(listed) if q["name"] == stack.env["MONITOR_QUEUE"])
    arguments = {name: value for name, _, value in queue["arguments"]}

    assert queue["durable"] and not queue["auto_delete"]
    assert arguments["x-max-length"] == int(stack.env["MONITOR_QUEUE_MAX_LENGTH"])
    assert arguments["x-overflow"] == "drop-head"
