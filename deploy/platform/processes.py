"""Detached processes tracked by pid files, and the local TCP ports they hold.

A pid file records the pid *and* the process start time (field 22 of ``/proc/<pid>/stat``),
so a pid the kernel has since given to another program is never taken for ours and never
signalled. Linux only: it reads ``/proc``, like the rest of the local platform.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

LOCALHOST = "127.0.0.1"


class PlatformError(Exception):
    """The local platform could not do what was asked; the message says why and what to do."""


class PortInUseError(PlatformError):
    """A port the platform needs is held by a process the platform did not start."""


@dataclass(frozen=True, slots=True)
class ProcessHandle:
    """One process the platform started: enough to find it again and to stop only it."""

    name: str
    pid: int
    start_ticks: int
    port: int
    pid_file: Path
    log_file: Path

    def write_pid_file(self) -> None:
        """Writes the pid file atomically (a reader never sees half of it)."""
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        record = {**asdict(self), "pid_file": str(self.pid_file), "log_file": str(self.log_file)}
        partial = self.pid_file.with_suffix(".tmp")
        partial.write_text(json.dumps(record))
        partial.replace(self.pid_file)

    @classmethod
    def from_pid_file(cls, pid_file: Path) -> ProcessHandle | None:
        """The handle a pid file records; None when the file is absent or unreadable."""
        try:
            record = json.loads(pid_file.read_text())
            return cls(
                name=str(record["name"]),
                pid=int(record["pid"]),
                start_ticks=int(record["start_ticks"]),
                port=int(record["port"]),
                pid_file=pid_file,
                log_file=Path(record["log_file"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None


# Popen objects of the processes this interpreter started: polling them reaps exited
# children, which would otherwise linger as zombies that still look alive in /proc.
_children: dict[int, subprocess.Popen[bytes]] = {}


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may hold spaces)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def process_start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot; None if there is no such
    process or it has exited (a zombie)."""
    fields = _stat_fields(pid)
    if fields is not None and fields[0] not in ("Z", "X"):
        return int(fields[19])
    child = _children.get(pid)
    # Reap a zombie child of ours, or it stays in /proc. The leader of a multi-threaded
    # process shows as a zombie while its other threads still exit, and cannot be reaped
    # yet: keep the child until a poll really collects it.
    if child is not None and child.poll() is not None:
        del _children[pid]
    return None


def process_cmdline(pid: int) -> str:
    """The command line of a process, or "" when it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def is_running(handle: ProcessHandle) -> bool:
    """True while the very process the handle names is alive (not a later one with its pid)."""
    return process_start_ticks(handle.pid) == handle.start_ticks


def log_tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def spawn(
    name: str,
    command: Sequence[str],
    *,
    port: int,
    pid_file: Path,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ProcessHandle:
    """Starts ``command`` detached (its own session and process group, so a terminal's
    Ctrl-C does not reach it and stopping it stops its children), appends its output to
    ``log_file`` and writes ``pid_file``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        child = subprocess.Popen(  # noqa: S603 - commands are built by this package
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    _children[child.pid] = child
    start_ticks = process_start_ticks(child.pid)
    if start_ticks is None:
        raise PlatformError(f"{name} exited at once; its log ({log_file}):\n{log_tail(log_file)}")
    handle = ProcessHandle(name, child.pid, start_ticks, port, pid_file, log_file)
    handle.write_pid_file()
    return handle


def find_running(pid_file: Path) -> ProcessHandle | None:
    """The live process a pid file names, or None. A stale pid file (process gone, or its
    pid now used by another program) is removed; the other program is left alone."""
    handle = ProcessHandle.from_pid_file(pid_file)
    if handle is not None and is_running(handle):
        return handle
    pid_file.unlink(missing_ok=True)
    return None


def _signal_group(handle: ProcessHandle, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(handle.pid) == handle.pid:
            os.killpg(handle.pid, signum)
        else:
            os.kill(handle.pid, signum)


def _wait_exit(handle: ProcessHandle, timeout_s: float) -> bool:
    """Waits until the process has exited and, when it is our child, has been reaped."""
    deadline = time.monotonic() + timeout_s
    while is_running(handle) or handle.pid in _children:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def stop(handle: ProcessHandle, timeout_s: float = 30.0) -> None:
    """Stops the process: SIGTERM to its group, SIGKILL after ``timeout_s``; then waits
    until its port is free and removes its pid file. Does nothing to a process that is no
    longer the one the handle names."""
    if is_running(handle):
        _signal_group(handle, signal.SIGTERM)
        if not _wait_exit(handle, timeout_s):
            _signal_group(handle, signal.SIGKILL)
            _wait_exit(handle, 10.0)
        wait_port_free(handle.port, timeout_s=10.0)
    handle.pid_file.unlink(missing_ok=True)


def kill(handle: ProcessHandle) -> None:
    """Kills the process group at once (``kill -9``: no clean shutdown), as a crash would."""
    if is_running(handle):
        _signal_group(handle, signal.SIGKILL)
        _wait_exit(handle, 10.0)
        wait_port_free(handle.port, timeout_s=10.0)
    handle.pid_file.unlink(missing_ok=True)


def port_is_free(port: int) -> bool:
    """True when nothing listens on the port on the loopback address (a socket in
    TIME_WAIT does not count: servers here bind with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOCALHOST, port))
        except OSError:
            return False
    return True


def port_answers(port: int, timeout_s: float = 0.5) -> bool:
    """True when a TCP connection to the loopback port succeeds."""
    try:
        with socket.create_connection((LOCALHOST, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_port_free(port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not port_is_free(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def free_ports(count: int) -> list[int]:
    """Distinct loopback ports that are free now (the kernel picks them)."""
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind((LOCALHOST, 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == "0A":  # 0A: LISTEN
                    inodes.add(fields[9])
    return inodes


def port_owner(port: int) -> tuple[int, str] | None:
    """(pid, command line) of a process listening on the port, if one can be seen."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in targets:
                        return int(proc.name), process_cmdline(int(proc.name))
    return None


def describe_port_user(port: int) -> str:
    """Who holds a port, for messages: "pid N: cmdline" or a note that it is unknown."""
    owner = port_owner(port)
    if owner is None:
        return "a process this user cannot see"
    pid, cmdline = owner
    return f"pid {pid}: {cmdline[:160] or '?'}"
