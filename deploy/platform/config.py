"""One platform's configuration: where it keeps its files, which ports it uses and which
components it runs; defaults overridden by ``RISKSTREAM_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from deploy.platform import paths
from deploy.platform.kafka import KafkaNode, cluster_nodes, replication_of
from deploy.platform.processes import LOCALHOST, PlatformError
from deploy.platform.services import (
    DEFAULT_BUNDLE_ENV,
    SERVICES,
    ServiceSpec,
    ensure_default_bundle,
)

INFRASTRUCTURE = ("kafka", "redis")
MONITORING = ("prometheus",)
"""Started after the services it scrapes."""
ALL_COMPONENTS: tuple[str, ...] = (
    *INFRASTRUCTURE,
    *(spec.name for spec in SERVICES),
    *MONITORING,
)


def parse_components(text: str) -> tuple[str, ...]:
    """Comma-separated component names, validated, in platform start order."""
    wanted = {part.strip() for part in text.split(",") if part.strip()}
    unknown = wanted - set(ALL_COMPONENTS)
    if unknown:
        raise PlatformError(f"unknown components {sorted(unknown)}; known: {ALL_COMPONENTS}")
    return tuple(name for name in ALL_COMPONENTS if name in wanted)


@dataclass(frozen=True, slots=True)
class PlatformConfig:
    """Where the platform keeps its files, which ports it uses and what it runs."""

    run_dir: Path = paths.DEFAULT_RUN_DIR
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    redis_port: int = 6379
    prometheus_port: int = 9090
    components: tuple[str, ...] = ALL_COMPONENTS
    services: tuple[ServiceSpec, ...] = SERVICES
    source_root: Path = paths.REPO_ROOT
    kafka_lib_dir: Path | None = None  # Kafka's jars; default run_dir/kafka/lib
    kafka_brokers: int = 1
    """Nodes of the Kafka cluster: 1 (the default) or more, each broker and controller."""
    kafka_cluster_ports: tuple[tuple[int, int], ...] = ()
    """Client and controller port of every node; by default the first node's ports and
    the pairs after them (9092/9093, 9094/9095, 9096/9097)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PlatformConfig:
        """Defaults overridden by ``RISKSTREAM_RUN_DIR``, ``RISKSTREAM_KAFKA_PORT``,
        ``RISKSTREAM_KAFKA_CONTROLLER_PORT``, ``RISKSTREAM_KAFKA_BROKERS``,
        ``RISKSTREAM_REDIS_PORT``, ``RISKSTREAM_PROMETHEUS_PORT``,
        ``RISKSTREAM_PLATFORM_COMPONENTS`` (comma-separated) and
        ``RISKSTREAM_<SERVICE>_PORT``."""
        defaults = cls()
        components = environ.get("RISKSTREAM_PLATFORM_COMPONENTS", "")
        return cls(
            run_dir=Path(environ.get("RISKSTREAM_RUN_DIR", str(defaults.run_dir))),
            kafka_port=int(environ.get("RISKSTREAM_KAFKA_PORT", defaults.kafka_port)),
            kafka_controller_port=int(
                environ.get("RISKSTREAM_KAFKA_CONTROLLER_PORT", defaults.kafka_controller_port)
            ),
            kafka_brokers=int(environ.get("RISKSTREAM_KAFKA_BROKERS", defaults.kafka_brokers)),
            redis_port=int(environ.get("RISKSTREAM_REDIS_PORT", defaults.redis_port)),
            prometheus_port=int(
                environ.get("RISKSTREAM_PROMETHEUS_PORT", defaults.prometheus_port)
            ),
            components=parse_components(components) if components else ALL_COMPONENTS,
            services=tuple(
                replace(spec, port=int(environ.get(spec.port_env, spec.port)))
                for spec in defaults.services
            ),
        )

    def __post_init__(self) -> None:
        if self.kafka_brokers < 1:
            raise PlatformError(f"RISKSTREAM_KAFKA_BROKERS must be 1 or more: {self.kafka_brokers}")

    def kafka_node_ports(self) -> list[tuple[int, int]]:
        """(client port, controller port) of every Kafka node, the first node's first."""
        if self.kafka_cluster_ports:
            return list(self.kafka_cluster_ports)
        return [
            (self.kafka_port + 2 * n, self.kafka_controller_port + 2 * n)
            for n in range(self.kafka_brokers)
        ]

    def kafka_nodes(self) -> list[KafkaNode]:
        return cluster_nodes(self.run_dir, self.kafka_node_ports())

    @property
    def kafka_bootstrap(self) -> str:
        """Every node's client address, comma-separated."""
        return ",".join(f"{LOCALHOST}:{port}" for port, _ in self.kafka_node_ports())

    @property
    def topic_replication_factor(self) -> int:
        """Replicas of every topic on this cluster (3 from three nodes on)."""
        return replication_of(len(self.kafka_node_ports()))[0]

    @property
    def redis_url(self) -> str:
        return f"redis://{LOCALHOST}:{self.redis_port}/0"

    def pid_file(self, component: str) -> Path:
        return paths.pid_file(self.run_dir, component)

    def selected_services(self) -> list[ServiceSpec]:
        return [spec for spec in self.services if spec.name in self.components]

    def service_env(self, spec: ServiceSpec) -> dict[str, str]:
        """The environment a service process gets: ours, plus where Kafka, Redis and the
        other services are."""
        base = {
            **{other.url_env: other.url for other in self.services},
            "RISKSTREAM_TOPIC_REPLICATION_FACTOR": str(self.topic_replication_factor),
            **os.environ,
            "RISKSTREAM_KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "RISKSTREAM_REDIS_URL": self.redis_url,
        }
        if spec.serves_model and DEFAULT_BUNDLE_ENV not in base:
            base[DEFAULT_BUNDLE_ENV] = str(ensure_default_bundle(self.run_dir))
        return spec.process_env(base, self.run_dir)
