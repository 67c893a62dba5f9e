"""A RabbitMQ node of the test's own: its name, ports and data under a temporary directory.

Tests that stop the broker stop this node, by its name and PID, never the machine's node.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

from devtools import rabbit
from devtools.private_stack import free_port
from devtools.stack import poll_until

# Debian's unwrapped scripts run the node as the calling user; the wrappers on PATH switch to
# the rabbitmq user, who cannot reach a test's private temporary directory.
UNWRAPPED = Path("/usr/lib/rabbitmq/bin")


def _command(name: str) -> str:
    unwrapped = UNWRAPPED / name
    return str(unwrapped) if unwrapped.exists() else shutil.which(name) or name


class PrivateRabbit:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.node = f"threadline-it-{uuid.uuid4().hex[:8]}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self.process: subprocess.Popen[bytes] | None = None
        base.mkdir(parents=True, exist_ok=True)
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        (base / "rabbitmq-env.conf").write_text("")
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
        }

    def start(self) -> None:
        """Start the node (again, with the same data) and wait until it accepts connections."""
        with open(self.base / "server.out", "ab") as out:
            self.process = subprocess.Popen(
                [_command("rabbitmq-server")], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        poll_until(self._answers, f"private RabbitMQ node {self.node} answers", timeout=120, interval=1)

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.node} exited; see {self.base / 'server.out'}")
        return rabbit.answers(self.url, timeout=2)

    def kill(self) -> None:
        """SIGKILL the node and everything it started, as a crash or an OOM killer would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        poll_until(lambda: not rabbit.answers(self.url, timeout=1), f"{self.node} gone", timeout=30)

    def stop(self) -> None:
        """Stop the node cleanly by name; kill its process group if it does not go."""
        if self.process is None or self.process.poll() is not None:
            return
        subprocess.run([_command("rabbitmqctl"), "-n", self.node, "stop"], env=self.env,
                       capture_output=True, timeout=120, check=False)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait(timeout=30)
