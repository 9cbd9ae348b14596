"""The platform as a whole: ports checked before anything starts, stale pid files, and a
real up/down cycle on free ports in a temporary run directory (never the developer's
``.run`` or ports)."""

from __future__ import annotations

import socket
import textwrap
import time
from pathlib import Path

import pytest

from deploy.platform.config import PlatformConfig
from deploy.platform.kafka import default_kafka_lib_dir, run_coroutine
from deploy.platform.lifecycle import down, status, up
from deploy.platform.processes import (
    PortInUseError,
    ProcessHandle,
    free_ports,
    is_running,
    port_is_free,
)
from deploy.platform.services import ServiceSpec
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
