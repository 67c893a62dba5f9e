"""The trace page in a real browser: Debian's headless Chromium, driven by Selenium.

Screenshots of the page are kept in test-artifacts/ (wide and phone-sized).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from devtools.envfile import ROOT
from tests.integration.monitor import CHANNEL_TASKS, FAN_OUT, post_file, settled, wait_trace
from tests.integration.support import post_message

ARTIFACTS = ROOT / "test-artifacts"
# Chromium's own flags for a quiet, isolated headless run (no network of its own).
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "make integration-test installs Debian's chromium and chromium-driver"
    profile = tempfile.mkdtemp(prefix="threadline-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    try:
        yield chrome
    finally:
        chrome.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_the_trace_page_of_a_failed_workflow_marks_the_failure(stack, browser, tmp_path):
    request_id = "it-page-1"
    assert post_message(stack, request_id, recipient=1).status_code == 202
    assert post_file(stack, request_id, tmp_path).status_code == 202
    document = wait_trace(stack, request_id, lambda d: settled((FAN_OUT, *CHANNEL_TASKS))(d)
                          and settled(("processor.process_file",), "FAILURE")(d), "delivered, and the file failed")

    browser.set_window_size(1280, 900)
    browser.get(f"{stack.monitor_url}/traces/{request_id}")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "trace-page.png"))

    assert request_id in browser.find_element(By.TAG_NAME, "h1").text
    tasks = browser.find_elements(By.CSS_SELECTOR, ".row[data-kind=task]")
    assert len(tasks) == document["summary"]["tasks"]
    assert {row.get_attribute("data-task-id") for row in tasks} == {
        node_id for node_id in _task_ids(document["tasks"])}
    [failed] = browser.find_elements(By.CSS_SELECTOR, ".row.failed")
    assert failed.get_attribute("data-state") == "FAILURE" and "processor.process_file" in failed.text
    exception = failed.find_element(By.CLASS_NAME, "exception")
    assert exception.is_displayed() and "MalformedFile" in exception.text and "line 3" in exception.text
    [request_row] = browser.find_elements(By.CSS_SELECTOR, ".row[data-kind=request]")
    assert "POST /api/" in request_row.text
    link = tasks[0].find_element(By.TAG_NAME, "a").get_attribute("href")
    assert link.startswith(f"{stack.env['MONITOR_FLOWER_URL']}/task/{request_id}_")

    browser.set_window_size(390, 844)
    browser.get(f"{stack.monitor_url}/traces/{request_id}")
    browser.save_screenshot(str(ARTIFACTS / "trace-page-phone.png"))
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390 + 1


def test_the_list_page_finds_a_request_and_filters_failures(stack, browser):
    request_id = "it-page-list"
    assert post_message(stack, request_id, recipient=1).status_code == 202
    wait_trace(stack, request_id, settled((FAN_OUT, *CHANNEL_TASKS)), "the message delivered")

    browser.get(f"{stack.monitor_url}/traces/")
    assert request_id in browser.find_element(By.TAG_NAME, "table").text
    browser.find_element(By.NAME, "failed").click()
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 30).until(expected_conditions.url_contains("failed=1"))
    assert request_id not in browser.find_element(By.TAG_NAME, "table").text
    browser.find_element(By.NAME, "q").send_keys(request_id)
    browser.find_element(By.NAME, "failed").click()
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 30).until(expected_conditions.url_contains(f"/traces/{request_id}"))
    assert request_id in browser.find_element(By.TAG_NAME, "h1").text


def _task_ids(nodes):
    for node in nodes:
        yield node["task_id"]
        yield from _task_ids(node["children"])
