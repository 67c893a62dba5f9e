"""Reaching RabbitMQ: use the one at the broker URL, else start the system package's node."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from urllib.parse import urlparse

from kombu import Connection


class BrokerUnavailable(RuntimeError):
    pass


def answers(url: str, timeout: float = 3.0) -> bool:
    """True when a broker accepts a connection at ``url``."""
    try:
        with Connection(url, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception:
        return False


def ensure(url: str) -> None:
    """Make sure a broker answers at ``url``, starting a local node when it is ours to start."""
    if answers(url):
        return
    host = urlparse(url).hostname
    if host not in ("localhost", "127.0.0.1"):
        raise BrokerUnavailable(f"No broker answers at {host}; start it or set BROKER_URL")
    _install_if_missing()
    subprocess.run(["rabbitmq-server", "-detached"], check=True)
    deadline = time.monotonic() + 90
    while not answers(url):
        if time.monotonic() > deadline:
            raise BrokerUnavailable("The local RabbitMQ node did not start within 90 s")
        time.sleep(2)


def _install_if_missing() -> None:
    if shutil.which("rabbitmq-server"):
        return
    if os.geteuid() != 0:
        raise BrokerUnavailable("RabbitMQ is not installed: run 'sudo apt-get install rabbitmq-server'")
    subprocess.run(["apt-get", "update", "-q"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "rabbitmq-server"], check=True)


def add_vhost(name: str, user: str = "guest") -> None:
    """Create ``name`` and let ``user`` use it (needs rabbitmqctl, that is, the local node)."""
    _ctl("add_vhost", name)
    _ctl("set_permissions", "-p", name, user, ".*", ".*", ".*")


def delete_vhost(name: str) -> None:
    _ctl("delete_vhost", name)


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)
