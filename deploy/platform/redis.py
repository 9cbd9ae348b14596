"""Redis from the distribution: a server of the platform's own on a loopback port, with its
files under the run directory."""

from __future__ import annotations

import time
from pathlib import Path

import redis

from deploy.platform import paths
from deploy.platform.processes import (
    LOCALHOST,
    PlatformError,
    ProcessHandle,
    is_running,
    log_tail,
    spawn,
    stop,
)
from deploy.platform.system_packages import debian_binary

REDIS_READY_TIMEOUT_S = 30.0


def redis_server_binary() -> str:
    """Path of ``redis-server``; installs the Debian package first when it is missing."""
    return debian_binary("redis-server", "redis-server")


def redis_answers(port: int) -> bool:
    """True when the Redis on the loopback ``port`` answers PING."""
    client = redis.Redis(host=LOCALHOST, port=port, socket_timeout=1.0)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def wait_redis_ready(handle: ProcessHandle, timeout_s: float = REDIS_READY_TIMEOUT_S) -> None:
    """Returns once Redis answers PING; stops it and raises PlatformError otherwise."""
    client = redis.Redis(host=LOCALHOST, port=handle.port, socket_timeout=1.0)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if not is_running(handle):
                raise PlatformError(f"Redis exited while starting:\n{log_tail(handle.log_file)}")
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.1)
    finally:
        client.close()
    stop(handle)
    raise PlatformError(
        f"Redis was not ready after {timeout_s:.0f} s:\n{log_tail(handle.log_file)}"
    )


def start_redis(
    run_dir: Path, port: int, timeout_s: float = REDIS_READY_TIMEOUT_S
) -> ProcessHandle:
    """Starts a Redis of our own on the loopback port with its files under ``run_dir/redis``
    (append-only file on, snapshots off) and returns once it answers PING."""
    data_dir = run_dir / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        LOCALHOST,
        "--dir",
        str(data_dir),
        "--daemonize",
        "no",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--protected-mode",
        "yes",
    ]
    handle = spawn(
        "redis",
        command,
        port=port,
        pid_file=paths.pid_file(run_dir, "redis"),
        log_file=paths.log_file(run_dir, "redis"),
    )
    wait_redis_ready(handle, timeout_s)
    return handle
