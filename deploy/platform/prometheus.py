"""Prometheus from the distribution, scraping the services with the platform's recording
and alert rules (``deploy/prometheus``); configuration and data under the run directory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from deploy.platform import paths
from deploy.platform.http_health import wait_http_ready
from deploy.platform.processes import LOCALHOST, ProcessHandle, spawn
from deploy.platform.system_packages import debian_binary

PROMETHEUS_DIR = paths.REPO_ROOT / "deploy" / "prometheus"
PROMETHEUS_RULE_FILES = ("recording.yml", "alerts.yml")
PROMETHEUS_READY_PATH = "/-/ready"
PROMETHEUS_READY_TIMEOUT_S = 60.0


def prometheus_binary(name: str = "prometheus") -> str:
    """Path of ``prometheus`` (or ``promtool``, from the same Debian package); installs the
    package first when it is missing."""
    return debian_binary(name, "prometheus")


def prometheus_config(
    targets: Mapping[str, int],
    rules_dir: Path = PROMETHEUS_DIR / "rules",
    scrape_interval: str = "15s",
) -> str:
    """prometheus.yml scraping ``targets`` (job name to loopback port) with the platform's
    recording and alert rules; the same jobs as ``deploy/prometheus/prometheus.yml``."""
    lines = [
        "global:",
        f"  scrape_interval: {scrape_interval}",
        f"  evaluation_interval: {scrape_interval}",
        "  external_labels:",
        "    platform: riskstream-local",
        "rule_files:",
        *(f"  - {rules_dir / name}" for name in PROMETHEUS_RULE_FILES),
        "scrape_configs:",
    ]
    for job, port in targets.items():
        lines += [
            f"  - job_name: {job}",
            "    static_configs:",
            f'      - targets: ["{LOCALHOST}:{port}"]',
        ]
    return "\n".join(lines) + "\n"


def start_prometheus(
    run_dir: Path,
    port: int,
    targets: Mapping[str, int],
    scrape_interval: str = "15s",
    timeout_s: float = PROMETHEUS_READY_TIMEOUT_S,
) -> ProcessHandle:
    """Starts Prometheus on the loopback ``port`` scraping ``targets``, with its
    configuration and data under ``run_dir/prometheus``; returns once ``/-/ready``
    answers 200."""
    home = run_dir / "prometheus"
    (home / "data").mkdir(parents=True, exist_ok=True)
    config = home / "prometheus.yml"
    config.write_text(prometheus_config(targets, scrape_interval=scrape_interval))
    command = [
        prometheus_binary(),
        f"--config.file={config}",
        f"--storage.tsdb.path={home / 'data'}",
        f"--web.listen-address={LOCALHOST}:{port}",
        "--storage.tsdb.retention.time=15d",
        "--web.enable-lifecycle",
    ]
    handle = spawn(
        "prometheus",
        command,
        port=port,
        pid_file=paths.pid_file(run_dir, "prometheus"),
        log_file=paths.log_file(run_dir, "prometheus"),
    )
    wait_http_ready(handle, PROMETHEUS_READY_PATH, timeout_s)
    return handle
