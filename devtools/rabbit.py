"""Reaching RabbitMQ: use the one at the broker URL, else start the system package's node."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from urllib.parse import unquote, urlparse

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


def is_local(url: str) -> bool:
    """True when ``url`` names this machine's node, which rabbitmqctl reaches."""
    return urlparse(url).hostname in ("localhost", "127.0.0.1") and shutil.which("rabbitmqctl") is not None


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


def replace_classic_queues(url: str, names: tuple[str, ...]) -> list[str]:
    """Delete the empty classic queues among ``names`` on the local node, so that they are
    declared again as quorum queues; return their names. A classic queue that still holds
    messages is left alone and reported (an earlier version of the stack declared them)."""
    vhost = unquote(urlparse(url).path[1:]) or "/"
    command = ["rabbitmqctl", "-q", "list_queues", "--no-table-headers", "-p", vhost, "name", "type", "messages"]
    listed = subprocess.run(command, check=True, capture_output=True, text=True, timeout=60).stdout
    replaced = []
    for line in listed.splitlines():
        fields = line.split("\t")
        if len(fields) != 3 or fields[0] not in names or fields[1] != "classic":
            continue
        if fields[2] != "0":
            raise BrokerUnavailable(f"Queue {fields[0]} on vhost {vhost} is a classic queue with {fields[2]} "
                                    "messages; drain it, then delete it, and run make up again")
        _ctl("delete_queue", "-p", vhost, fields[0])
        replaced.append(fields[0])
    return replaced


def add_vhost(name: str, user: str = "guest") -> None:
    """Create ``name`` and let ``user`` use it (needs rabbitmqctl, that is, the local node)."""
    _ctl("add_vhost", name)
    _ctl("set_permissions", "-p", name, user, ".*", ".*", ".*")


def delete_vhost(name: str) -> None:
    _ctl("delete_vhost", name)


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)
