"""Where the platform finds the repository and keeps the files of what it runs.

Run directory layout: ``pids/<component>.pid``, ``logs/<component>.log``, ``kafka/lib``
(jars), ``kafka/config``, ``kafka/data``, ``kafka/cluster.id``, ``redis/``,
``prometheus/prometheus.yml`` and ``prometheus/data``.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RUN_DIR = REPO_ROOT / ".run"


def pid_file(run_dir: Path, component: str) -> Path:
    """Where the pid file of ``component`` lives in ``run_dir``."""
    return run_dir / "pids" / f"{component}.pid"


def log_file(run_dir: Path, component: str) -> Path:
    """Where the output of ``component`` is written in ``run_dir``."""
    return run_dir / "logs" / f"{component}.log"
