"""Pid files, stopping and port checks, on small Python and shell processes (no Kafka)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from deploy.platform.processes import (
    LOCALHOST,
    ProcessHandle,
    describe_port_user,
    find_running,
    free_ports,
    is_running,
    kill,
    port_answers,
    port_is_free,
    port_owner,
    spawn,
    stop,
)
from tests.support.polling import wait_until

LISTENER = """
import signal, socket, sys, time
if sys.argv[2] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
time.sleep(120)
"""


def _spawn_listener(tmp_path: Path, port: int, mode: str = "normal") -> ProcessHandle:
    handle = spawn(
        "listener",
        [sys.executable, "-c", LISTENER, str(port), mode],
        port=port,
        pid_file=tmp_path / "pids" / "listener.pid",
        log_file=tmp_path / "logs" / "listener.log",
    )
    wait_until(lambda: port_answers(port))
    return handle


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """A process the platform did not start and must never signal."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


def test_spawn_writes_a_pid_file_and_stop_frees_the_port(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    handle = _spawn_listener(tmp_path, port)

    assert ProcessHandle.from_pid_file(handle.pid_file) == handle
    assert is_running(handle)
    assert not port_is_free(port)

    stop(handle)

    assert not is_running(handle)
    assert port_is_free(port)
    assert not handle.pid_file.exists()


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    handle = _spawn_listener(tmp_path, port, mode="ignore-term")

    started = time.monotonic()
    stop(handle, timeout_s=0.5)

    assert not is_running(handle)
    assert port_is_free(port)
    assert time.monotonic() - started < 5.0


def test_kill_ends_the_whole_process_group(tmp_path: Path) -> None:
    handle = spawn(
        "shell",
        ["bash", "-c", "sleep 60 & echo $!; wait"],
        port=free_ports(1)[0],
        pid_file=tmp_path / "shell.pid",
        log_file=tmp_path / "shell.log",
    )
    wait_until(lambda: handle.log_file.read_text().strip() != "")
    grandchild = int(handle.log_file.read_text().strip())
    assert os.getpgid(grandchild) == handle.pid

    kill(handle)

    assert not is_running(handle)
    wait_until(lambda: not Path(f"/proc/{grandchild}").exists())
    assert not handle.pid_file.exists()


def test_a_pid_file_of_an_exited_process_is_removed(tmp_path: Path) -> None:
    exited = subprocess.Popen(["true"])
    exited.wait()
    handle = ProcessHandle("gone", exited.pid, 1, 1, tmp_path / "gone.pid", tmp_path / "gone.log")
    handle.write_pid_file()

    assert find_running(handle.pid_file) is None
    assert not handle.pid_file.exists()


def test_a_reused_pid_is_neither_ours_nor_signalled(
    tmp_path: Path, bystander: subprocess.Popen[bytes]
) -> None:
    real_ticks = int(Path(f"/proc/{bystander.pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    # The pid file says the process with this pid started at another time: a later
    # program has been given the pid.
    handle = ProcessHandle(
        "old", bystander.pid, real_ticks + 1, 1, tmp_path / "old.pid", tmp_path / "old.log"
    )
    handle.write_pid_file()

    assert find_running(handle.pid_file) is None
    assert not handle.pid_file.exists()
    stop(handle, timeout_s=0.5)
    kill(replace(handle, pid_file=tmp_path / "again.pid"))

    assert bystander.poll() is None


def test_an_unreadable_pid_file_names_no_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "broken.pid"
    pid_file.write_text("12")

    assert ProcessHandle.from_pid_file(pid_file) is None
    assert find_running(pid_file) is None
    assert not pid_file.exists()


def test_a_port_someone_listens_on_is_taken_and_its_owner_is_named() -> None:
    with socket.socket() as server:
        server.bind((LOCALHOST, 0))
        server.listen()
        port = int(server.getsockname()[1])

        assert not port_is_free(port)
        owner = port_owner(port)
        assert owner is not None
        assert owner[0] == os.getpid()
        assert "pytest" in owner[1]
        assert describe_port_user(port).startswith(f"pid {os.getpid()}: ")

    assert port_is_free(port)
    assert port_owner(port) is None


def test_free_ports_are_distinct_and_free() -> None:
    ports = free_ports(3)

    assert len(set(ports)) == 3
    assert all(port_is_free(port) for port in ports)
