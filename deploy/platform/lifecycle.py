"""The platform as a whole: ``up``, ``down``, ``status`` and ``install`` across the
selected components, in start order (Kafka, Redis, the services, Prometheus)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from deploy.platform.config import PlatformConfig
from deploy.platform.http_health import http_ok, wait_http_ready
from deploy.platform.kafka import (
    create_topics,
    default_kafka_lib_dir,
    install_kafka,
    kafka_answers,
    start_kafka_cluster,
    wait_kafka_ready,
)
from deploy.platform.processes import (
    PlatformError,
    PortInUseError,
    ProcessHandle,
    describe_port_user,
    find_running,
    is_running,
    port_is_free,
    stop,
)
from deploy.platform.prometheus import (
    PROMETHEUS_READY_PATH,
    PROMETHEUS_READY_TIMEOUT_S,
    prometheus_binary,
    start_prometheus,
)
from deploy.platform.redis import redis_answers, redis_server_binary, start_redis, wait_redis_ready
from deploy.platform.services import SERVICE_READY_TIMEOUT_S, ServiceSpec, start_service
from deploy.platform.warmup import WARM_UPS, wait_warm
from services.common.settings import ServiceSettings


@dataclass(frozen=True, slots=True)
class _Component:
    name: str
    ports: tuple[tuple[int, str], ...]  # (port, the variable that moves it)
    start: Callable[[], ProcessHandle]
    wait_ready: Callable[[ProcessHandle], None]
    healthy: Callable[[], bool]


def _components(config: PlatformConfig) -> list[_Component]:
    """The selected components, in start order; services whose code is absent are left out."""
    run_dir = config.run_dir
    kafka_ports = tuple(
        (port, variable)
        for client, controller in config.kafka_node_ports()
        for port, variable in (
            (client, "RISKSTREAM_KAFKA_PORT"),
            (controller, "RISKSTREAM_KAFKA_CONTROLLER_PORT"),
        )
    )
    table: list[_Component] = [
        _Component(
            "kafka",
            kafka_ports,
            lambda: start_kafka_cluster(run_dir, config.kafka_nodes(), config.kafka_lib_dir)[0],
            wait_kafka_ready,
            lambda: kafka_answers(config.kafka_port),
        ),
        _Component(
            "redis",
            ((config.redis_port, "RISKSTREAM_REDIS_PORT"),),
            lambda: start_redis(run_dir, config.redis_port),
            wait_redis_ready,
            lambda: redis_answers(config.redis_port),
        ),
    ]
    for spec in config.selected_services():
        if spec.is_present(config.source_root):
            table.append(_service_component(config, spec))
    targets = {
        spec.name: spec.port for spec in config.services if spec.is_present(config.source_root)
    }
    table.append(
        _Component(
            "prometheus",
            ((config.prometheus_port, "RISKSTREAM_PROMETHEUS_PORT"),),
            lambda: start_prometheus(run_dir, config.prometheus_port, targets),
            lambda handle: wait_http_ready(
                handle, PROMETHEUS_READY_PATH, PROMETHEUS_READY_TIMEOUT_S
            ),
            lambda: http_ok(config.prometheus_port, PROMETHEUS_READY_PATH),
        )
    )
    return [component for component in table if component.name in config.components]


def _service_component(config: PlatformConfig, spec: ServiceSpec) -> _Component:
    return _Component(
        spec.name,
        ((spec.port, spec.port_env),),
        lambda: start_service(spec, config.run_dir, config.service_env(spec), config.source_root),
        lambda handle: wait_http_ready(handle, spec.health_path, SERVICE_READY_TIMEOUT_S),
        lambda: http_ok(spec.port, spec.health_path),
    )


def _check_ports_free(components: Sequence[_Component]) -> None:
    taken = [
        f"port {port} is in use by another process ({describe_port_user(port)}) "
        f"— set {variable} or stop it"
        for component in components
        for port, variable in component.ports
        if not port_is_free(port)
    ]
    if taken:
        raise PortInUseError("\n".join(taken))


def up(config: PlatformConfig, topic_settings: ServiceSettings | None = None) -> dict[str, str]:
    """Starts every selected component that is not running yet and returns when all are
    ready; creates missing topics once Kafka is ready; then waits until the services are
    warm (see :mod:`deploy.platform.warmup`: every consumer group owns its partitions and
    each service answered a warm-up read). Idempotent: components already up are only
    checked. Before starting anything, fails with PortInUseError if a port is held by a
    process we did not start. Returns ``{component: "started" | "running"}``."""
    components = _components(config)
    running: dict[str, ProcessHandle] = {}
    for component in components:
        handle = find_running(config.pid_file(component.name))
        if handle is None:
            continue
        if handle.port != component.ports[0][0]:
            raise PlatformError(
                f"{component.name} already runs on port {handle.port} (pid {handle.pid}); "
                f"run `down` before changing its port"
            )
        running[component.name] = handle
    _check_ports_free([c for c in components if c.name not in running])

    outcome: dict[str, str] = {}
    for component in components:
        if component.name in running:
            component.wait_ready(running[component.name])
            outcome[component.name] = "running"
        else:
            component.start()
            outcome[component.name] = "started"
        if component.name == "kafka":
            create_topics(config.kafka_bootstrap, topic_settings or _topic_settings(config))
    warming = [(c.name, c.ports[0][0]) for c in components if c.name in WARM_UPS]
    if warming and "kafka" in config.components:
        wait_warm(config.kafka_bootstrap, warming)
    return outcome


def _topic_settings(config: PlatformConfig) -> ServiceSettings:
    """Topic settings from the environment; the replication factor, unless set there, is
    what the cluster allows."""
    settings = ServiceSettings()
    if "RISKSTREAM_TOPIC_REPLICATION_FACTOR" in os.environ:
        return settings
    return settings.model_copy(update={"topic_replication_factor": config.topic_replication_factor})


def down(config: PlatformConfig) -> dict[str, str]:
    """Stops, in reverse start order, every selected component whose pid file names a live
    process we started; removes stale pid files without signalling anyone. Returns
    ``{component: "stopped" | "not running"}`` for each selected component."""
    outcome: dict[str, str] = {}
    for name in reversed(config.components):
        handle = find_running(config.pid_file(name))
        if name == "kafka":
            # The other nodes of a cluster, however many `up` started.
            for node_pid_file in sorted(config.pid_file("kafka").parent.glob("kafka-*.pid")):
                node = find_running(node_pid_file)
                if node is not None:
                    stop(node)
        if handle is None:
            outcome[name] = "not running"
        else:
            stop(handle)
            outcome[name] = "stopped"
    return outcome


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    name: str
    pid: int | None
    port: int
    state: str  # ready | not ready | stopped | not present | port held by another process


def status(config: PlatformConfig) -> list[ComponentStatus]:
    """What each selected component is doing now. Changes nothing."""
    present = {component.name: component for component in _components(config)}
    rows: list[ComponentStatus] = []
    for name in config.components:
        component = present.get(name)
        if component is None:
            spec = next(spec for spec in config.services if spec.name == name)
            rows.append(ComponentStatus(name, None, spec.port, "not present"))
            continue
        port = component.ports[0][0]
        handle = ProcessHandle.from_pid_file(config.pid_file(name))
        if handle is None or not is_running(handle):
            state = "stopped" if port_is_free(port) else "port held by another process"
            rows.append(ComponentStatus(name, None, port, state))
            continue
        state = "ready" if component.healthy() else "not ready"
        rows.append(ComponentStatus(name, handle.pid, handle.port, state))
    return rows


def install(config: PlatformConfig) -> None:
    """Fetches what the selected components need to run: Kafka's jars, redis-server,
    Prometheus."""
    if "kafka" in config.components:
        install_kafka(config.kafka_lib_dir or default_kafka_lib_dir(config.run_dir))
    if "redis" in config.components:
        redis_server_binary()
    if "prometheus" in config.components:
        prometheus_binary()
