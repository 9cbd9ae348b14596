"""Kafka, Redis and service processes for integration tests, on free ports in a directory
of their own, so a test run neither needs nor disturbs a platform started with ``make up``.

The functions block; from an async test call them through ``asyncio.to_thread`` when the
test must keep working while, say, Kafka restarts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType

from deploy.platform import paths
from deploy.platform.config import INFRASTRUCTURE, PlatformConfig
from deploy.platform.kafka import (
    KafkaNode,
    cluster_id_file,
    create_topics,
    default_kafka_lib_dir,
    spawn_kafka_node,
    start_kafka_cluster,
    wait_kafka_ready,
)
from deploy.platform.processes import LOCALHOST, ProcessHandle, free_ports, kill, stop
from deploy.platform.redis import start_redis
from deploy.platform.services import SERVICE_READY_TIMEOUT_S, service_spec, start_service
from services.common.settings import ServiceSettings


class BackingServices:
    """A Kafka and a Redis of their own under ``run_dir``, on ports free when created.

    Kafka is one node, or a cluster of ``brokers`` nodes on this machine (one controller
    quorum; with three or more, every topic the tests create should have three replicas,
    ``replication_factor``, and a write needs two in sync). Data survives
    ``stop_*``/``kill_*`` and the matching ``start_*`` brings the same server back on the
    same port, as a restart in production would. ``config`` describes them as the
    platform's configuration of its Kafka and Redis components.
    """

    def __init__(self, run_dir: Path, kafka_lib_dir: Path | None = None, brokers: int = 1) -> None:
        self.run_dir = run_dir
        self.kafka_lib_dir = kafka_lib_dir or default_kafka_lib_dir()
        *kafka_ports, redis_port = free_ports(2 * brokers + 1)
        self.config = PlatformConfig(
            run_dir=run_dir,
            kafka_port=kafka_ports[0],
            kafka_controller_port=kafka_ports[1],
            redis_port=redis_port,
            components=INFRASTRUCTURE,
            kafka_lib_dir=self.kafka_lib_dir,
            kafka_brokers=brokers,
            kafka_cluster_ports=tuple(zip(kafka_ports[::2], kafka_ports[1::2], strict=True)),
        )
        self.nodes = self.config.kafka_nodes()
        self._brokers: dict[int, ProcessHandle] = {}
        self._redis: ProcessHandle | None = None

    @property
    def kafka_bootstrap(self) -> str:
        return self.config.kafka_bootstrap

    @property
    def replication_factor(self) -> int:
        """Replicas each topic should have on this cluster."""
        return self.config.topic_replication_factor

    @property
    def redis_url(self) -> str:
        return self.config.redis_url

    @property
    def pids(self) -> dict[str, int]:
        """The running servers' process ids, by name (``kafka``, ``kafka-2``..., ``redis``)."""
        handles = {node.name: self._brokers.get(node.node_id) for node in self.nodes}
        handles["redis"] = self._redis
        return {name: handle.pid for name, handle in handles.items() if handle is not None}

    def start_kafka(self) -> None:
        """Starts every Kafka node that is not running (none: no-op) and returns when each
        answers metadata."""
        if not self._brokers:
            handles = start_kafka_cluster(self.run_dir, self.nodes, self.kafka_lib_dir)
            self._brokers = {node.node_id: h for node, h in zip(self.nodes, handles, strict=True)}
            return
        for node in self.nodes:
            self.start_broker(node.node_id)

    def stop_kafka(self) -> None:
        """Clean shutdown (SIGTERM) of every node."""
        for node in reversed(self.nodes):
            self.stop_broker(node.node_id)

    def kill_kafka(self) -> None:
        """Crash (SIGKILL) of every node: no clean shutdown, as after a power cut."""
        for node in self.nodes:
            self.kill_broker(node.node_id)

    def restart_kafka(self) -> None:
        self.stop_kafka()
        self.start_kafka()

    def start_broker(self, node_id: int) -> None:
        """Starts one node of the cluster (no-op while it runs); returns once it answers."""
        if node_id in self._brokers:
            return
        node = self._node(node_id)
        handle = spawn_kafka_node(
            node, self.nodes, cluster_id_file(self.nodes), self.kafka_lib_dir, self.run_dir
        )
        wait_kafka_ready(handle)
        self._brokers[node_id] = handle

    def stop_broker(self, node_id: int) -> None:
        """Clean shutdown of one node: it hands its leaderships over first."""
        handle = self._brokers.pop(node_id, None)
        if handle is not None:
            stop(handle)

    def kill_broker(self, node_id: int) -> None:
        """``kill -9`` of one node."""
        handle = self._brokers.pop(node_id, None)
        if handle is not None:
            kill(handle)

    def _node(self, node_id: int) -> KafkaNode:
        return next(node for node in self.nodes if node.node_id == node_id)

    def start_redis(self) -> None:
        """Starts Redis (no-op while it runs) and returns when it answers PING."""
        if self._redis is None:
            self._redis = start_redis(self.run_dir, self.config.redis_port)

    def stop_redis(self) -> None:
        if self._redis is not None:
            stop(self._redis)
            self._redis = None

    def kill_redis(self) -> None:
        if self._redis is not None:
            kill(self._redis)
            self._redis = None

    def restart_redis(self) -> None:
        self.stop_redis()
        self.start_redis()

    def start(self) -> None:
        self.start_kafka()
        self.start_redis()

    def close(self) -> None:
        """Stops both; safe to call more than once."""
        self.stop_redis()
        self.stop_kafka()


def isolated_settings(backing: BackingServices, topic_prefix: str) -> ServiceSettings:
    """Settings for a test (or a chaos run) on ``backing`` under its own topic and Redis key
    prefixes; every platform topic already exists under the prefix, with the replication
    the cluster allows."""
    settings = ServiceSettings(
        env="test",
        kafka_bootstrap_servers=backing.kafka_bootstrap,
        redis_url=backing.redis_url,
        topic_prefix=topic_prefix,
        redis_key_prefix=topic_prefix.rstrip("."),
        topic_replication_factor=backing.replication_factor,
    )
    create_topics(backing.kafka_bootstrap, settings)
    return settings


def service_environment(settings: ServiceSettings) -> dict[str, str]:
    """The environment of a service subprocess that matches ``settings``."""
    return {
        **os.environ,
        "RISKSTREAM_ENV": settings.env,
        "RISKSTREAM_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "RISKSTREAM_REDIS_URL": settings.redis_url.get_secret_value(),
        "RISKSTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "RISKSTREAM_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "RISKSTREAM_TOPIC_REPLICATION_FACTOR": str(settings.topic_replication_factor),
    }


class ServiceProcess:
    """A service module (``services.ingest``) run as a subprocess on a free port.

    Use as a context manager, or call ``start``/``stop``. ``env`` is the whole environment
    of the process (see the ``service_env`` fixture); port and state directory are added.
    Its pid file and log live in ``run_dir/<name>-<port>``, so several instances of one
    service can run side by side.
    """

    def __init__(
        self,
        service: str,
        env: Mapping[str, str],
        run_dir: Path,
        timeout_s: float = SERVICE_READY_TIMEOUT_S,
    ) -> None:
        (port,) = free_ports(1)
        self.spec = replace(service_spec(service), port=port)
        self.run_dir = run_dir / f"{self.spec.name}-{port}"
        self.env = self.spec.process_env(env, self.run_dir)
        self.timeout_s = timeout_s
        self._handle: ProcessHandle | None = None

    @property
    def port(self) -> int:
        return self.spec.port

    @property
    def base_url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._handle is None else self._handle.pid

    @property
    def log_path(self) -> Path:
        return paths.log_file(self.run_dir, self.spec.name)

    def log_text(self) -> str:
        """Everything the process has written so far ("" before it starts)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self) -> ServiceProcess:
        """Starts the process and returns when its health path answers 200; raises
        PlatformError (with the log's tail) if it exits or times out first."""
        if self._handle is None:
            self._handle = start_service(
                self.spec, self.run_dir, self.env, paths.REPO_ROOT, self.timeout_s
            )
        return self

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited after a grace period."""
        if self._handle is not None:
            stop(self._handle, timeout_s=15.0)
            self._handle = None

    def kill(self) -> None:
        """``kill -9``: the process dies with no chance to flush or commit."""
        if self._handle is not None:
            kill(self._handle)
            self._handle = None

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
