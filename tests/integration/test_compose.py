"""The Procfile and docker-compose.yml describe the same processes with the same commands."""

from __future__ import annotations

import yaml

from devtools.envfile import ROOT

INFRASTRUCTURE = {"rabbitmq", "postgres"}


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def compose() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_same_processes():
    assert set(compose()) - INFRASTRUCTURE == set(procfile())


def test_same_commands():
    services = compose()
    for name, command in procfile().items():
        # Compose runs the Procfile's line through a shell; "$$" is compose's escape for "$".
        assert services[name]["command"] == ["sh", "-c", command.replace("$", "$$")], name


def test_every_process_waits_for_what_it_needs_and_reports_health():
    services = compose()
    for name in procfile():
        assert "healthcheck" in services[name], name
        needs = services[name].get("depends_on", {})
        assert all(condition["condition"] == "service_healthy" for condition in needs.values()), name


def test_images_are_pinned():
    for name in INFRASTRUCTURE:
        image = compose()[name]["image"]
        assert ":" in image and not image.endswith(":latest"), image
