"""Each service installs alone, from its own pyproject, in a fresh virtual environment, and
every entry module of its processes imports there (nothing it uses comes from a neighbour)."""

from __future__ import annotations

import os
import subprocess
import venv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devtools.envfile import ROOT

# What each service's Dockerfile installs, and the modules its Procfile processes start from.
SERVICES = {
    "api": ("services/api", "[flower]", ["api.wsgi", "api.worker", "api.relay", "api.seed", "threadline.gunicorn",
                                         "flower.command"]),
    "notifier": ("services/notifier", "", ["notifier.worker"]),
    "processor": ("services/processor", "", ["processor.worker"]),
    "sandbox": ("services/sandbox", "", ["sandbox.main"]),
    "monitor": ("services/monitor", "", ["monitor.ingest", "monitor.wsgi", "monitor.worker", "monitor.beat",
                                         "monitor.health", "monitor.terminal", "monitor.report"]),
}


def install_alone(service: str, target: Path) -> Path:
    """A fresh venv under ``target`` with threadline and ``service`` installed (not editable)."""
    venv.create(target, with_pip=True)
    python = target / "bin" / "python"
    path, extras, _ = SERVICES[service]
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT / "shared"),
         f"{ROOT / path}{extras}"],
        check=True, capture_output=True, text=True, timeout=600,
    )
    return python


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every service in a venv of its own, installed two at a time."""
    base = tmp_path_factory.mktemp("venvs")
    with ThreadPoolExecutor(max_workers=2) as pool:
        pythons = {name: pool.submit(install_alone, name, base / name) for name in SERVICES}
        return {name: future.result() for name, future in pythons.items()}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_service_installs_alone_and_its_entry_modules_import(service, installed, tmp_path):
    env = {
        "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "LOG_DIR": "",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", "FILE_STORE": str(tmp_path / "files"),
    }
    # A worker module's Celery app imports its task modules as the worker would at start.
    code = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    module = importlib.import_module(name)\n"
        "    if hasattr(module, 'celery'):\n"
        "        module.celery.loader.import_default_modules()\n"
        "    print(module.__file__)\n"
    )
    # Run outside the repository, so no module can come from the checkout instead of the venv.
    modules = SERVICES[service][2]
    result = subprocess.run([str(installed[service]), "-c", code, *modules], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    files = result.stdout.split()
    venv_dir = str(installed[service].parent.parent)
    assert len(files) == len(modules) and all(file.startswith(venv_dir) for file in files), files
