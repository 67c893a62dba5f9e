"""The Procfile and docker-compose.yml describe the same processes with the same commands."""

from __future__ import annotations

import re
import shutil
import subprocess

import yaml

from devtools import envfile
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


SECRETS = ("RABBITMQ_PASSWORD", "POSTGRES_PASSWORD", "FLOWER_BASIC_AUTH")


def dry_run(*target: str) -> str:
    """What ``make`` would run for ``target``, run or not from another make."""
    return subprocess.run(["make", "--no-print-directory", "-n", *target], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout
APP_SERVICES = set(procfile())


def test_compose_refuses_to_start_without_its_secrets_and_has_no_default_for_them():
    text = (ROOT / "docker-compose.yml").read_text()
    example = envfile.parse((ROOT / ".env.example").read_text())
    for name in SECRETS:
        uses = re.findall(r"\$\{" + name + r"(.{0,2})", text)
        assert uses and all(use == ":?" for use in uses), (name, uses)
        assert example[name] == "", f"{name} has a working default in .env.example"


def test_make_up_with_docker_creates_env_with_fresh_secrets_first(tmp_path):
    recipe = dry_run("compose-up").splitlines()
    assert "devtools.envfile" in recipe[0] and recipe[1].startswith("docker compose up")
    created = []
    for name in ("one", "two"):
        root = tmp_path / name
        root.mkdir()
        shutil.copy(ROOT / ".env.example", root / ".env.example")
        created.append(envfile.parse(envfile.ensure(root).read_text()))
    for name in SECRETS:
        assert created[0][name] and created[0][name] != created[1][name], name
    assert created[0]["FLOWER_BASIC_AUTH"].startswith("threadline:")


def test_broker_and_database_keep_their_data_in_named_volumes():
    services, volumes = compose(), yaml.safe_load((ROOT / "docker-compose.yml").read_text())["volumes"]
    # RabbitMQ keeps its data per node name, which comes from the host name.
    assert services["rabbitmq"]["hostname"] == "rabbitmq"
    assert "rabbitmq-data:/var/lib/rabbitmq" in services["rabbitmq"]["volumes"]
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert {"rabbitmq-data", "postgres-data"} <= set(volumes)


def test_every_process_writes_its_log_file_to_the_logs_volume():
    services = compose()
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert environment["LOG_DIR"] == "/app/logs", name
        assert "logs:/app/logs" in services[name]["volumes"], name
    assert "docker compose cp api:/app/logs/. logs/" in dry_run("grep", "RID=x")


def test_published_ports_are_on_localhost_unless_told_otherwise():
    services = compose()
    published = {name: service.get("ports", []) for name, service in services.items()}
    for name in ("flower", "sandbox", "rabbitmq", "api"):
        assert published[name], name
        for port in published[name]:
            host = port.split("}:")[0] + "}" if port.startswith("${") else port.split(":")[0]
            assert host.endswith(":-127.0.0.1}") or host == "127.0.0.1", (name, port)
    assert any(port.endswith(":15672") for port in published["rabbitmq"])


def test_no_command_or_health_check_carries_a_secret():
    for name, service in compose().items():
        lines = [*service.get("command", []), *service.get("healthcheck", {}).get("test", [])]
        for secret in (*SECRETS, "BROKER_URL", "DATABASE_URL"):
            assert not any(secret in line for line in lines), (name, secret)


def test_inside_compose_every_process_calls_the_other_containers_not_itself(tmp_path):
    """A fresh .env (what `make up` creates) must not point a container at its own loopback."""
    shutil.copy(ROOT / ".env.example", tmp_path / ".env.example")
    env = envfile.parse(envfile.ensure(tmp_path).read_text())
    def resolved(value: str) -> str:
        return re.sub(r"\$\{(\w+)(?::-([^}]*)|:\?[^}]*)\}", lambda m: env.get(m[1]) or m[2] or "", value)

    for name in APP_SERVICES:
        environment = compose()[name].get("environment", {})
        for key in ("PUSH_PROVIDER_URL", "SMS_PROVIDER_URL", "SMTP_HOST", "ALERT_WEBHOOK_URL", "BROKER_URL"):
            value = resolved(environment.get(key, ""))
            assert "127.0.0.1" not in value and "localhost" not in value, (name, key, value)
    assert resolved(compose()["monitor"]["environment"]["ALERT_WEBHOOK_URL"]) == "http://sandbox:8090/v2/enqueue"
    assert "devtools.stack where" in dry_run("compose-up").splitlines()[-1]
