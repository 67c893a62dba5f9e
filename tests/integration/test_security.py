"""Secrets stay off command lines, Flower asks for them, and the tools listen on localhost."""

from __future__ import annotations

import socket
from pathlib import Path

import requests

from devtools.stack import Stack, poll_until

LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


def listening_addresses(port: int) -> set[str]:
    """The local addresses sockets listen on for ``port``, from /proc/net/tcp and tcp6."""
    found = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == LISTEN and int(hex_port, 16) == port:
                raw = bytes.fromhex(address)
                # The kernel writes each 32-bit word in host (little-endian) order.
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                found.add(socket.inet_ntop(family, words))
    return found


def test_no_process_has_a_secret_on_its_command_line(stack: Stack):
    password = stack.flower_auth[1]
    broker_secret = stack.env["BROKER_URL"].split("@")[0]  # amqp://user:password
    for pid in stack.processes():
        try:
            command_line = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except FileNotFoundError:
            continue  # a process that ended meanwhile
        assert password not in command_line, command_line
        assert broker_secret not in command_line, command_line


def test_flower_asks_for_its_credentials_and_writes_its_own_log(stack: Stack):
    assert requests.get(f"{stack.flower_url}/api/workers", timeout=10).status_code == 401
    assert requests.get(f"{stack.flower_url}/api/workers", auth=stack.flower_auth, timeout=10).status_code == 200
    log = stack.log_dir / "flower.log"
    lines = poll_until(lambda: [line for line in log.read_text().splitlines() if "Visit me at" in line],
                       "Flower's start line in flower.log")
    assert all(" rid=" in line for line in lines)  # threadline's format, like every other file


def test_flower_and_the_sandbox_listen_on_localhost_only(stack: Stack):
    for setting in ("FLOWER_PORT", "SANDBOX_HTTP_PORT", "SANDBOX_SMTP_PORT"):
        assert listening_addresses(int(stack.env[setting])) == {"127.0.0.1"}, setting
