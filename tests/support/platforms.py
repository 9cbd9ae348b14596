"""Starting service subprocesses for a test on a platform the session started (the
single-broker ``platform`` or the three-broker ``replicated_platform``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from deploy.harness import ServiceProcess


@contextmanager
def service_starter(env: dict[str, str], run_dir: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """``start("ingest", RISKSTREAM_X="y")`` runs the service on a free port with ``env``
    (plus the given variables) and returns once it is ready; every service started is
    stopped on leaving."""
    started: list[ServiceProcess] = []

    def start(service: str, **extra_env: str) -> ServiceProcess:
        process = ServiceProcess(service, {**env, **extra_env}, run_dir)
        started.append(process)
        return process.start()

    try:
        yield start
    finally:
        for process in reversed(started):
            process.stop()
