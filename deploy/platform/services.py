"""The riskstream services as the platform runs them: which there are (``SERVICES``), the
environment each process gets, and starting one until its health path answers."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from deploy.platform import paths
from deploy.platform.http_health import wait_http_ready
from deploy.platform.processes import PlatformError, ProcessHandle, spawn
from riskmodel.manifest import MANIFEST_FILE, trained_feature_schema
from schemas.features import FEATURE_SCHEMA

SERVICE_READY_TIMEOUT_S = 60.0
DEFAULT_BUNDLE_ENV = "RISKSTREAM_DEFAULT_BUNDLE"


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A riskstream service the platform runs as ``python -m <module>``.

    The service reads its listening port from ``RISKSTREAM_<NAME>_PORT`` (the platform sets
    it, and the same variable overrides the default port here) and is ready when
    ``GET <health_path>`` answers 200. A service that keeps local files names the variable
    that moves them (``state_dir_env``); the platform points it into its run directory.
    """

    name: str
    module: str
    port: int
    health_path: str = "/ready"
    state_dir_env: str | None = None
    process_dir_env: str | None = None
    """The variable naming a directory that belongs to this one process (never shared by
    instances, unlike the state directory): the platform points it at ``run_dir/<name>-own``."""
    serves_model: bool = False
    """The service scores with a model bundle: the platform gives it the default bundle
    (trained into the run directory on first use) unless RISKSTREAM_DEFAULT_BUNDLE is set."""

    @property
    def port_env(self) -> str:
        return f"RISKSTREAM_{self.name.upper()}_PORT"

    @property
    def url_env(self) -> str:
        """The variable other processes read this service's address from."""
        return f"RISKSTREAM_{self.name.upper()}_URL"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def process_env(self, base: Mapping[str, str], run_dir: Path) -> dict[str, str]:
        """``base`` plus what the platform decides for this process: its port and, for a
        service with local state, ``run_dir/<name>`` as its state directory."""
        env = {**base, self.port_env: str(self.port), "PYTHONUNBUFFERED": "1"}
        if self.state_dir_env is not None:
            env.setdefault(self.state_dir_env, str(run_dir / self.name))
        if self.process_dir_env is not None:
            env.setdefault(self.process_dir_env, str(run_dir / f"{self.name}-own"))
        return env

    def is_present(self, source_root: Path) -> bool:
        """True when the service's code exists (``<module path>/__main__.py``)."""
        return (source_root / self.module.replace(".", "/") / "__main__.py").is_file()


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("ingest", "services.ingest", 8001),
    ServiceSpec(
        "features", "services.features", 6066, state_dir_env="RISKSTREAM_FEATURES_DATA_DIR"
    ),
    ServiceSpec(
        "scorer",
        "services.scorer",
        8002,
        state_dir_env="RISKSTREAM_MODEL_REGISTRY_DIR",
        process_dir_env="RISKSTREAM_DECISION_SPOOL_DIR",
        serves_model=True,
    ),
    ServiceSpec("warning", "services.warning", 8003),
    ServiceSpec("console", "services.console", 8004),
    ServiceSpec("reporting", "services.reporting", 8005),
    ServiceSpec("signals", "services.signals", 8006),
)
"""Every service, in start order (``down`` stops them in reverse)."""


def service_spec(name: str) -> ServiceSpec:
    """The table row of a service, by name (``ingest``) or module (``services.ingest``)."""
    for spec in SERVICES:
        if name in (spec.name, spec.module):
            return spec
    raise PlatformError(f"unknown service {name!r}; known: {[s.name for s in SERVICES]}")


def ensure_default_bundle(run_dir: Path) -> Path:
    """``run_dir/default-bundle``, trained on simulated customers the first time (under a
    minute on two cores), so a fresh platform scores from the start; trained again when it
    was made for another feature schema than the running one (the scorer would refuse it)."""
    bundle = run_dir / "default-bundle"
    stale = trained_feature_schema(bundle) not in (None, FEATURE_SCHEMA.fingerprint())
    if stale or not (bundle / MANIFEST_FILE).is_file():
        logging.getLogger(__name__).info("training the default model bundle into %s", bundle)
        subprocess.run(  # noqa: S603 (our own interpreter and module, no shell)
            [sys.executable, "-m", "training.default_bundle", str(bundle)],
            check=True,
            cwd=paths.REPO_ROOT,
        )
    return bundle


def start_service(
    spec: ServiceSpec,
    run_dir: Path,
    env: Mapping[str, str],
    cwd: Path = paths.REPO_ROOT,
    timeout_s: float = SERVICE_READY_TIMEOUT_S,
) -> ProcessHandle:
    """Starts ``python -m <module>`` with ``env`` (see ``ServiceSpec.process_env``) and
    returns once its health path answers 200."""
    handle = spawn(
        spec.name,
        [sys.executable, "-m", spec.module],
        port=spec.port,
        pid_file=paths.pid_file(run_dir, spec.name),
        log_file=paths.log_file(run_dir, spec.name),
        env=env,
        cwd=cwd,
    )
    wait_http_ready(handle, spec.health_path, timeout_s)
    return handle
