"""The platform's command line."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from deploy.platform.cli import main
from deploy.platform.processes import free_ports


def test_a_taken_port_is_reported_and_nothing_starts(
    tmp_path: Path, listening_socket: socket.socket, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = int(listening_socket.getsockname()[1])
    controller, redis_port = free_ports(2)
    argv = [
        "up",
        f"--run-dir={tmp_path}",
        f"--kafka-port={taken}",
        f"--kafka-controller-port={controller}",
        f"--redis-port={redis_port}",
        "--components=kafka,redis",
    ]

    assert main(argv, environ={}) == 1

    message = capsys.readouterr().err
    assert f"port {taken} is in use by another process (pid " in message
    assert "set RISKSTREAM_KAFKA_PORT or stop it" in message
