"""deploy/docker-compose.yml cannot run here (no Docker); these tests keep it in step with
the local platform: same services, same ports, only environment variables that the
services' settings classes really read."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from deploy.platform.paths import REPO_ROOT
from deploy.platform.services import SERVICES
from services.cli.settings import CliSettings
from services.features.settings import FeaturesSettings
from services.ingest.settings import IngestSettings
from services.scorer.settings import ScorerSettings
from services.signals.settings import SignalsSettings
from services.warning.settings import WarningSettings

COMPOSE = REPO_ROOT / "deploy" / "docker-compose.yml"
SETTINGS: dict[str, type[BaseSettings]] = {
    "ingest": IngestSettings,
    "features": FeaturesSettings,
    "scorer": ScorerSettings,
    "warning": WarningSettings,
    "signals": SignalsSettings,
    "topics": CliSettings,
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in settings.model_fields}


def test_every_service_the_platform_runs_is_in_compose(compose: dict[str, Any]) -> None:
    present = {spec.name for spec in SERVICES if spec.is_present(REPO_ROOT)}
    assert present <= set(compose["services"])


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_compose_sets_only_variables_the_service_reads(compose: dict[str, Any], name: str) -> None:
    environment = compose["services"][name].get("environment", {})
    riskstream_vars = {k for k in environment if k.startswith("RISKSTREAM_")}
    assert riskstream_vars
    assert riskstream_vars <= env_names(SETTINGS[name])


def test_ports_match_the_local_platform(compose: dict[str, Any]) -> None:
    for spec in SERVICES:
        if spec.name not in compose["services"]:
            continue
        service = compose["services"][spec.name]
        assert service["environment"][spec.port_env] == str(spec.port)
        assert f"{spec.port}:{spec.port}" in service["ports"]


def test_the_dockerfile_installs_from_the_lock_file() -> None:
    dockerfile = (REPO_ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    assert "requirements.lock" in dockerfile
    assert Path(REPO_ROOT / "requirements.lock").exists()
