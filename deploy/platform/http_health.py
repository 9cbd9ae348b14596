"""Health over HTTP: the services and Prometheus are ready when a path answers 200."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from deploy.platform.processes import (
    LOCALHOST,
    PlatformError,
    ProcessHandle,
    is_running,
    log_tail,
    stop,
)


def http_ok(port: int, path: str, timeout_s: float = 1.0) -> bool:
    """True when ``GET http://127.0.0.1:<port><path>`` answers 200."""
    url = f"http://{LOCALHOST}:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_http_ready(handle: ProcessHandle, path: str, timeout_s: float) -> None:
    """Returns once the process answers 200 on ``path``; stops it and raises otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_running(handle):
            raise PlatformError(
                f"{handle.name} exited while starting:\n{log_tail(handle.log_file)}"
            )
        if http_ok(handle.port, path):
            return
        time.sleep(0.2)
    stop(handle)
    raise PlatformError(
        f"{handle.name} did not answer 200 on {path} after {timeout_s:.0f} s:\n"
        f"{log_tail(handle.log_file)}"
    )
