"""The local platform: configuration it writes, its command line, and a real up/down cycle
on free ports in a temporary run directory (never the developer's ``.run`` or ports)."""

from __future__ import annotations

import base64
import hashlib
import socket
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.platform import (
    ALL_COMPONENTS,
    KAFKA_POM,
    PlatformConfig,
    ServiceSpec,
    default_kafka_lib_dir,
    down,
    install_kafka,
    kafka_server_properties,
    main,
    new_cluster_id,
    parse_components,
    run_coroutine,
    status,
    up,
)
from deploy.processes import (
    LOCALHOST,
    PlatformError,
    PortInUseError,
    ProcessHandle,
    free_ports,
    is_running,
    port_is_free,
)
from services.common.kafka import describe_topics
from services.common.settings import ServiceSettings

PROBE_SERVICE = """
import http.server, os

class Ready(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        kafka = os.environ["RISKSTREAM_KAFKA_BOOTSTRAP_SERVERS"]
        wired = kafka and os.environ["RISKSTREAM_REDIS_URL"]
        self.send_response(200 if self.path == "/ready" and wired else 404)
        self.end_headers()

port = int(os.environ["RISKSTREAM_PROBE_PORT"])
http.server.HTTPServer(("127.0.0.1", port), Ready).serve_forever()
"""


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and "=" in line)


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    """A port held by this process, which the platform did not start."""
    with socket.socket() as server:
        server.bind((LOCALHOST, 0))
        server.listen()
        yield server


def test_server_properties_describe_one_combined_node_on_loopback(tmp_path: Path) -> None:
    properties = _properties(kafka_server_properties(tmp_path / "data", 19092, 19093))

    assert properties["process.roles"] == "broker,controller"
    assert properties["node.id"] == "1"
    assert properties["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert properties["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert properties["inter.broker.listener.name"] == "PLAINTEXT"
    assert properties["offsets.topic.replication.factor"] == "1"
    assert properties["transaction.state.log.min.isr"] == "1"
    assert properties["group.initial.rebalance.delay.ms"] == "0"
    assert properties["auto.create.topics.enable"] == "false"
    assert properties["log.dirs"] == str(tmp_path / "data")


def test_cluster_ids_are_16_random_bytes_never_starting_with_a_dash() -> None:
    ids = {new_cluster_id() for _ in range(300)}

    assert len(ids) == 300
    for cluster_id in ids:
        assert not cluster_id.startswith("-")
        assert "=" not in cluster_id
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


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


def test_a_service_is_present_only_when_its_main_module_exists(tmp_path: Path) -> None:
    spec = ServiceSpec("probe", "pkg.probe", 1)
    (tmp_path / "pkg" / "probe").mkdir(parents=True)
    assert not spec.is_present(tmp_path)

    (tmp_path / "pkg" / "probe" / "__main__.py").write_text("")
    assert spec.is_present(tmp_path)
    assert spec.port_env == "RISKSTREAM_PROBE_PORT"


def test_a_service_gets_its_port_and_a_state_directory_under_the_run_dir(tmp_path: Path) -> None:
    spec = ServiceSpec("probe", "pkg.probe", 18123, state_dir_env="RISKSTREAM_PROBE_DATA_DIR")
    config = PlatformConfig(run_dir=tmp_path, kafka_port=19092, redis_port=16379)

    env = config.service_env(spec)

    assert env["RISKSTREAM_PROBE_PORT"] == "18123"
    assert env["RISKSTREAM_PROBE_DATA_DIR"] == str(tmp_path / "probe")
    assert env["RISKSTREAM_KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:19092"
    assert env["RISKSTREAM_REDIS_URL"] == "redis://127.0.0.1:16379/0"


def test_kafka_install_is_skipped_when_the_pom_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".pom.sha256").write_text(hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest())
    monkeypatch.setenv("PATH", "")  # Maven cannot run: a cache miss would fail

    assert install_kafka(tmp_path) is False


def test_a_taken_port_is_reported_and_nothing_starts(
    tmp_path: Path, listening_socket: socket.socket, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = int(listening_socket.getsockname()[1])
    controller, redis_port = free_ports(2)
    argv = [
        "up",
        f"--run-dir={tmp_path}",
        f"--kafka-port={taken}",
        f"--kafka-controller-port={controller}",
        f"--redis-port={redis_port}",
        "--components=kafka,redis",
    ]

    assert main(argv, environ={}) == 1

    message = capsys.readouterr().err
    assert f"port {taken} is in use by another process (pid " in message
    assert "set RISKSTREAM_KAFKA_PORT or stop it" in message


def test_up_checks_every_port_before_starting_anything(
    tmp_path: Path, listening_socket: socket.socket
) -> None:
    kafka_port, controller_port = free_ports(2)
    config = PlatformConfig(
        run_dir=tmp_path,
        kafka_port=kafka_port,
        kafka_controller_port=controller_port,
        redis_port=int(listening_socket.getsockname()[1]),
        components=("kafka", "redis"),
    )

    with pytest.raises(PortInUseError, match="set RISKSTREAM_REDIS_PORT or stop it"):
        up(config)

    assert not config.pid_file("kafka").exists()
    assert port_is_free(kafka_port)


def test_down_removes_stale_pid_files_and_reports_nothing_running(tmp_path: Path) -> None:
    config = PlatformConfig(run_dir=tmp_path, components=("kafka", "redis"))
    stale = ProcessHandle("kafka", 2**22 + 1, 1, 1, config.pid_file("kafka"), tmp_path / "k.log")
    stale.write_pid_file()

    assert down(config) == {"redis": "not running", "kafka": "not running"}
    assert not stale.pid_file.exists()


def _probe_config(tmp_path: Path) -> PlatformConfig:
    source_root = tmp_path / "src"
    (source_root / "probe_service").mkdir(parents=True)
    (source_root / "probe_service" / "__main__.py").write_text(textwrap.dedent(PROBE_SERVICE))
    kafka_port, controller_port, redis_port, probe_port = free_ports(4)
    return PlatformConfig(
        run_dir=tmp_path / "run",
        kafka_port=kafka_port,
        kafka_controller_port=controller_port,
        redis_port=redis_port,
        components=("kafka", "redis", "probe"),
        services=(ServiceSpec("probe", "probe_service", probe_port),),
        source_root=source_root,
        kafka_lib_dir=default_kafka_lib_dir(),
    )


@pytest.mark.integration
def test_up_twice_then_down_leaves_nothing_behind(tmp_path: Path) -> None:
    config = _probe_config(tmp_path)
    topic_settings = ServiceSettings(topic_prefix="deploytest.", event_partitions=3)
    ports = [config.kafka_port, config.kafka_controller_port, config.redis_port]
    ports.append(config.services[0].port)

    assert up(config, topic_settings) == {
        "kafka": "started",
        "redis": "started",
        "probe": "started",
    }
    handles = {
        name: ProcessHandle.from_pid_file(config.pid_file(name))
        for name in ("kafka", "redis", "probe")
    }
    assert all(handle is not None and is_running(handle) for handle in handles.values())
    assert [row.state for row in status(config)] == ["ready", "ready", "ready"]

    settings = topic_settings.model_copy(update={"kafka_bootstrap_servers": config.kafka_bootstrap})
    partitions = run_coroutine(lambda: describe_topics(settings))
    assert partitions == {spec.name: spec.partitions for spec in settings.topics.specs(3)}

    started = time.monotonic()
    assert up(config, topic_settings) == {
        "kafka": "running",
        "redis": "running",
        "probe": "running",
    }
    assert time.monotonic() - started < 15.0
    assert {name: ProcessHandle.from_pid_file(config.pid_file(name)) for name in handles} == handles

    assert down(config) == {"probe": "stopped", "redis": "stopped", "kafka": "stopped"}
    assert not any(handle is not None and is_running(handle) for handle in handles.values())
    assert all(port_is_free(port) for port in ports)
    assert not any((config.run_dir / "pids").iterdir())
    assert [row.state for row in status(config)] == ["stopped", "stopped", "stopped"]
