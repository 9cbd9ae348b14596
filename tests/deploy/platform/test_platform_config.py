"""The platform's configuration: from the environment, its components, and the environment
it gives a service process."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.platform.config import ALL_COMPONENTS, PlatformConfig, parse_components
from deploy.platform.processes import PlatformError
from deploy.platform.services import ServiceSpec


def test_configuration_comes_from_the_environment() -> None:
    config = PlatformConfig.from_env(
        {
            "RISKSTREAM_RUN_DIR": "/tmp/elsewhere",
            "RISKSTREAM_KAFKA_PORT": "29092",
            "RISKSTREAM_KAFKA_CONTROLLER_PORT": "29093",
            "RISKSTREAM_REDIS_PORT": "26379",
            "RISKSTREAM_PLATFORM_COMPONENTS": "redis,kafka",
            "RISKSTREAM_INGEST_PORT": "28001",
        }
    )

    assert config.run_dir == Path("/tmp/elsewhere")
    assert config.kafka_bootstrap == "127.0.0.1:29092"
    assert config.kafka_controller_port == 29093
    assert config.redis_url == "redis://127.0.0.1:26379/0"
    assert config.components == ("kafka", "redis")
    assert {spec.name: spec.port for spec in config.services}["ingest"] == 28001


def test_components_are_validated_and_put_in_start_order() -> None:
    assert parse_components("ingest, kafka") == ("kafka", "ingest")
    assert PlatformConfig.from_env({}).components == ALL_COMPONENTS
    with pytest.raises(PlatformError, match="unknown components"):
        parse_components("kafka,zookeeper")


def test_a_service_gets_its_port_and_a_state_directory_under_the_run_dir(tmp_path: Path) -> None:
    spec = ServiceSpec("probe", "pkg.probe", 18123, state_dir_env="RISKSTREAM_PROBE_DATA_DIR")
    config = PlatformConfig(run_dir=tmp_path, kafka_port=19092, redis_port=16379)

    env = config.service_env(spec)

    assert env["RISKSTREAM_PROBE_PORT"] == "18123"
    assert env["RISKSTREAM_PROBE_DATA_DIR"] == str(tmp_path / "probe")
    assert env["RISKSTREAM_KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:19092"
    assert env["RISKSTREAM_REDIS_URL"] == "redis://127.0.0.1:16379/0"
