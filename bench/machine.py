"""Facts about the machine and the software a report's figures were measured on."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "aiokafka",
    "faust-streaming",
    "fastapi",
    "uvicorn",
    "redis",
    "hiredis",
    "onnxruntime",
    "lightgbm",
    "numpy",
    "orjson",
    "pydantic",
    "rocksdict",
    "uvloop",
)


def cpu_model(cpuinfo: str) -> str:
    """The ``model name`` of the first processor in ``/proc/cpuinfo`` text."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return platform.processor() or "unknown"


def memory_total_bytes(meminfo: str) -> int | None:
    """``MemTotal`` from ``/proc/meminfo`` text, in bytes."""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _tool_version(command: list[str]) -> str | None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)  # noqa: S603
    except OSError:
        return None
    text = (result.stdout or result.stderr).strip()
    return text.splitlines()[0] if text else None


def git_commit(repo: Path) -> str | None:
    """The commit checked out in ``repo``, with ``+dirty`` when tracked files differ."""
    head = _tool_version(["git", "-C", str(repo), "rev-parse", "HEAD"])
    if head is None:
        return None
    dirty = _tool_version(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"])
    return f"{head}+dirty" if dirty else head


def machine_facts(repo: Path, kafka_version: str) -> dict[str, object]:
    """Cores, memory, CPU model, load, OS, Python and package versions, date and commit."""
    versions: dict[str, str | None] = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    versions["kafka"] = kafka_version
    versions["redis-server"] = _tool_version(["redis-server", "--version"])
    versions["java"] = _tool_version(["java", "-version"])
    return {
        "date": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "git_commit": git_commit(repo),
        "cores": os.cpu_count(),
        "memory_bytes": memory_total_bytes(_read("/proc/meminfo")),
        "cpu_model": cpu_model(_read("/proc/cpuinfo")),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "versions": versions,
    }
