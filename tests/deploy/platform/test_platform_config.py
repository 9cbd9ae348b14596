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


def test_three_brokers_on_request_each_with_its_own_ports_and_directory(tmp_path: Path) -> None:
    config = PlatformConfig.from_env(
        {"RISKSTREAM_RUN_DIR": str(tmp_path), "RISKSTREAM_KAFKA_BROKERS": "3"}
    )
    nodes = config.kafka_nodes()

    assert PlatformConfig.from_env({}).kafka_brokers == 1
    assert config.kafka_bootstrap == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert [(n.node_id, n.port, n.controller_port) for n in nodes] == [
        (1, 9092, 9093),
        (2, 9094, 9095),
        (3, 9096, 9097),
    ]
    assert [n.name for n in nodes] == ["kafka", "kafka-2", "kafka-3"]
    assert len({n.data_dir for n in nodes}) == 3
    assert config.topic_replication_factor == 3
    spec = ServiceSpec("probe", "pkg.probe", 18123)
    assert config.service_env(spec)["RISKSTREAM_TOPIC_REPLICATION_FACTOR"] == "3"
    assert (
        PlatformConfig(run_dir=tmp_path).service_env(spec)["RISKSTREAM_TOPIC_REPLICATION_FACTOR"]
        == "1"
    )
    with pytest.raises(PlatformError, match="KAFKA_BROKERS"):
        PlatformConfig(kafka_brokers=0)
