"""Starts, stops and reports the local riskstream platform: Kafka (KRaft, one node), Redis
and the services, each a detached process with a pid file and a log under the run directory.

Usage: ``python -m deploy.platform up|down|status|install [options]``. Every option has an
environment variable (see ``--help``). Nothing here touches a process it did not start: a
port held by another program is reported, never taken over.

Run directory layout: ``pids/<component>.pid``, ``logs/<component>.log``, ``kafka/lib``
(jars), ``kafka/config``, ``kafka/data``, ``kafka/cluster.id``, ``redis/``,
``prometheus/prometheus.yml`` and ``prometheus/data``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import logging
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import redis

from deploy.processes import (
    LOCALHOST,
    PlatformError,
    PortInUseError,
    ProcessHandle,
    describe_port_user,
    find_running,
    is_running,
    log_tail,
    port_is_free,
    spawn,
    stop,
)
from services.common.kafka import ensure_topics, wait_for_kafka
from services.common.settings import ServiceSettings

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RUN_DIR = REPO_ROOT / ".run"
KAFKA_POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
KAFKA_MAIN = "kafka.Kafka"
KAFKA_HEAP = ("-Xms256m", "-Xmx512m")
KAFKA_READY_TIMEOUT_S = 120.0
REDIS_READY_TIMEOUT_S = 30.0
SERVICE_READY_TIMEOUT_S = 60.0
PROMETHEUS_READY_TIMEOUT_S = 60.0
PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
PROMETHEUS_RULE_FILES = ("recording.yml", "alerts.yml")
_INSTALL_MARKER = ".pom.sha256"
DEFAULT_BUNDLE_ENV = "RISKSTREAM_DEFAULT_BUNDLE"

T = TypeVar("T")


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
    serves_model: bool = False
    """The service scores with a model bundle: the platform gives it the default bundle
    (trained into the run directory on first use) unless RISKSTREAM_DEFAULT_BUNDLE is set."""

    @property
    def port_env(self) -> str:
        return f"RISKSTREAM_{self.name.upper()}_PORT"

    def process_env(self, base: Mapping[str, str], run_dir: Path) -> dict[str, str]:
        """``base`` plus what the platform decides for this process: its port and, for a
        service with local state, ``run_dir/<name>`` as its state directory."""
        env = {**base, self.port_env: str(self.port), "PYTHONUNBUFFERED": "1"}
        if self.state_dir_env is not None:
            env.setdefault(self.state_dir_env, str(run_dir / self.name))
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
        serves_model=True,
    ),
    ServiceSpec("warning", "services.warning", 8003),
)
"""Every service, in start order (``down`` stops them in reverse)."""

INFRASTRUCTURE = ("kafka", "redis")
MONITORING = ("prometheus",)
"""Started after the services it scrapes."""
ALL_COMPONENTS: tuple[str, ...] = (
    *INFRASTRUCTURE,
    *(spec.name for spec in SERVICES),
    *MONITORING,
)


def service_spec(name: str) -> ServiceSpec:
    """The table row of a service, by name (``ingest``) or module (``services.ingest``)."""
    for spec in SERVICES:
        if name in (spec.name, spec.module):
            return spec
    raise PlatformError(f"unknown service {name!r}; known: {[s.name for s in SERVICES]}")


@dataclass(frozen=True, slots=True)
class PlatformConfig:
    """Where the platform keeps its files, which ports it uses and what it runs."""

    run_dir: Path = DEFAULT_RUN_DIR
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    redis_port: int = 6379
    prometheus_port: int = 9090
    components: tuple[str, ...] = ALL_COMPONENTS
    services: tuple[ServiceSpec, ...] = SERVICES
    source_root: Path = REPO_ROOT
    kafka_lib_dir: Path | None = None  # Kafka's jars; default run_dir/kafka/lib

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PlatformConfig:
        """Defaults overridden by ``RISKSTREAM_RUN_DIR``, ``RISKSTREAM_KAFKA_PORT``,
        ``RISKSTREAM_KAFKA_CONTROLLER_PORT``, ``RISKSTREAM_REDIS_PORT``,
        ``RISKSTREAM_PROMETHEUS_PORT``, ``RISKSTREAM_PLATFORM_COMPONENTS`` (comma-separated)
        and ``RISKSTREAM_<SERVICE>_PORT``."""
        defaults = cls()
        components = environ.get("RISKSTREAM_PLATFORM_COMPONENTS", "")
        return cls(
            run_dir=Path(environ.get("RISKSTREAM_RUN_DIR", str(defaults.run_dir))),
            kafka_port=int(environ.get("RISKSTREAM_KAFKA_PORT", defaults.kafka_port)),
            kafka_controller_port=int(
                environ.get("RISKSTREAM_KAFKA_CONTROLLER_PORT", defaults.kafka_controller_port)
            ),
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

    @property
    def kafka_bootstrap(self) -> str:
        return f"{LOCALHOST}:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://{LOCALHOST}:{self.redis_port}/0"

    def pid_file(self, component: str) -> Path:
        return self.run_dir / "pids" / f"{component}.pid"

    def selected_services(self) -> list[ServiceSpec]:
        return [spec for spec in self.services if spec.name in self.components]

    def service_env(self, spec: ServiceSpec) -> dict[str, str]:
        """The environment a service process gets: ours, plus where Kafka and Redis are."""
        base = {
            **os.environ,
            "RISKSTREAM_KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "RISKSTREAM_REDIS_URL": self.redis_url,
        }
        if spec.serves_model and DEFAULT_BUNDLE_ENV not in base:
            base[DEFAULT_BUNDLE_ENV] = str(ensure_default_bundle(self.run_dir))
        return spec.process_env(base, self.run_dir)


def ensure_default_bundle(run_dir: Path) -> Path:
    """``run_dir/default-bundle``, trained on simulated customers the first time (about half
    a minute on two cores), so a fresh platform scores from the start."""
    bundle = run_dir / "default-bundle"
    if not (bundle / "manifest.json").is_file():
        logging.getLogger(__name__).info("training the default model bundle into %s", bundle)
        subprocess.run(  # noqa: S603 (our own interpreter and module, no shell)
            [sys.executable, "-m", "training.default_bundle", str(bundle)],
            check=True,
            cwd=REPO_ROOT,
        )
    return bundle


def parse_components(text: str) -> tuple[str, ...]:
    """Comma-separated component names, validated, in platform start order."""
    wanted = {part.strip() for part in text.split(",") if part.strip()}
    unknown = wanted - set(ALL_COMPONENTS)
    if unknown:
        raise PlatformError(f"unknown components {sorted(unknown)}; known: {ALL_COMPONENTS}")
    return tuple(name for name in ALL_COMPONENTS if name in wanted)


def run_coroutine(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs a coroutine to completion from synchronous code, also when the calling thread
    already runs an event loop (an async test): then it runs on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(asyncio.run(factory()))
        except BaseException as error:
            failure.append(error)

    worker = threading.Thread(target=target, name="deploy-platform-coroutine")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return outcome[0]


# Kafka -----------------------------------------------------------------------------------


def default_kafka_lib_dir(run_dir: Path = DEFAULT_RUN_DIR) -> Path:
    return run_dir / "kafka" / "lib"


def install_kafka(lib_dir: Path, pom: Path = KAFKA_POM) -> bool:
    """Copies the Kafka broker's runtime jars from Maven into ``lib_dir``.

    Cached: does nothing (and returns False) when ``lib_dir`` holds the jars of this exact
    pom (a marker file keeps the pom's SHA-256). Otherwise replaces the jars, so a changed
    version never leaves old ones on the class path, and returns True.
    """
    pom_hash = hashlib.sha256(pom.read_bytes()).hexdigest()
    marker = lib_dir / _INSTALL_MARKER
    if marker.is_file() and marker.read_text().strip() == pom_hash:
        return False
    mvn = shutil.which("mvn")
    if mvn is None:
        raise PlatformError("mvn (Apache Maven) is needed to fetch Kafka: apt-get install maven")
    lib_dir.mkdir(parents=True, exist_ok=True)
    for jar in lib_dir.glob("*.jar"):
        jar.unlink()
    command = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={lib_dir}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise PlatformError(f"Maven could not fetch Kafka:\n{result.stdout}\n{result.stderr}")
    marker.write_text(pom_hash)
    return True


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding, and never
    starting with '-' (the storage tool would read it as an option)."""
    while True:
        candidate = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


def kafka_server_properties(data_dir: Path, port: int, controller_port: int) -> str:
    """server.properties for one combined broker+controller node on the loopback address."""
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{LOCALHOST}:{controller_port}",
            f"listeners=PLAINTEXT://{LOCALHOST}:{port},CONTROLLER://{LOCALHOST}:{controller_port}",
            f"advertised.listeners=PLAINTEXT://{LOCALHOST}:{port}",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={data_dir}",
            # One node: every internal topic can have only one replica.
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "default.replication.factor=1",
            "min.insync.replicas=1",
            # Consumer groups form at once instead of waiting 3 s for more members.
            "group.initial.rebalance.delay.ms=0",
            # Topics come from ensure_topics with their partition counts, never by accident.
            "auto.create.topics.enable=false",
            # After a crash the restarted broker cannot register until its old session
            # expires (9 s by default); five missed one-second heartbeats is still lenient.
            "broker.heartbeat.interval.ms=1000",
            "broker.session.timeout.ms=5000",
            "",
        ]
    )


def kafka_log4j_properties(log_file: Path) -> str:
    return "\n".join(
        [
            "log4j.rootLogger=INFO, file",
            "log4j.appender.file=org.apache.log4j.RollingFileAppender",
            f"log4j.appender.file.File={log_file}",
            "log4j.appender.file.MaxFileSize=20MB",
            "log4j.appender.file.MaxBackupIndex=3",
            "log4j.appender.file.layout=org.apache.log4j.PatternLayout",
            "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n",
            "log4j.logger.org.apache.kafka=INFO",
            "log4j.logger.kafka=INFO",
            "",
        ]
    )


def _kafka_settings(port: int) -> ServiceSettings:
    return ServiceSettings(kafka_bootstrap_servers=f"{LOCALHOST}:{port}")


def _format_kafka_storage(lib_dir: Path, kafka_dir: Path, properties: Path) -> None:
    data_dir = kafka_dir / "data"
    if (data_dir / "meta.properties").is_file():
        return  # formatted by an earlier start; skip a JVM start
    id_file = kafka_dir / "cluster.id"
    if not id_file.is_file():
        id_file.write_text(new_cluster_id())
    command = [
        _java(),
        "-cp",
        f"{lib_dir}/*",
        f"-Dlog4j.configuration=file:{kafka_dir / 'config' / 'log4j.properties'}",
        "kafka.tools.StorageTool",
        "format",
        "-t",
        id_file.read_text().strip(),
        "-c",
        str(properties),
        "--ignore-formatted",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise PlatformError(f"Kafka storage format failed:\n{result.stdout}\n{result.stderr}")


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise PlatformError("java (17 or later) is needed for Kafka: apt-get install default-jre")
    return java


def wait_kafka_ready(handle: ProcessHandle, timeout_s: float = KAFKA_READY_TIMEOUT_S) -> None:
    """Returns once the broker answers a metadata request; stops the process and raises
    PlatformError (with the log's tail) when it exits or is not ready in ``timeout_s``."""
    settings = _kafka_settings(handle.port)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_running(handle):
            raise PlatformError(f"Kafka exited while starting:\n{log_tail(handle.log_file)}")
        try:
            run_coroutine(lambda: wait_for_kafka(settings, timeout_s=5.0))
            return
        except TimeoutError:
            continue
    stop(handle)
    raise PlatformError(
        f"Kafka was not ready after {timeout_s:.0f} s:\n{log_tail(handle.log_file)}"
    )


def start_kafka(
    run_dir: Path,
    port: int,
    controller_port: int,
    lib_dir: Path | None = None,
    timeout_s: float = KAFKA_READY_TIMEOUT_S,
) -> ProcessHandle:
    """Starts a single-node KRaft Kafka with its data under ``run_dir/kafka`` and returns
    once it answers metadata requests. Jars come from ``lib_dir`` (installed there first
    if needed; default ``run_dir/kafka/lib``). Its data survives a stop, so a second call
    with the same ``run_dir`` restarts the same cluster."""
    lib_dir = lib_dir or default_kafka_lib_dir(run_dir)
    install_kafka(lib_dir)
    kafka_dir = run_dir / "kafka"
    config_dir = kafka_dir / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    logs_dir = run_dir / "logs"
    properties = config_dir / "server.properties"
    properties.write_text(kafka_server_properties(kafka_dir / "data", port, controller_port))
    log4j = config_dir / "log4j.properties"
    log4j.write_text(kafka_log4j_properties(logs_dir / "kafka-server.log"))
    _format_kafka_storage(lib_dir, kafka_dir, properties)
    command = [
        _java(),
        *KAFKA_HEAP,
        "-cp",
        f"{lib_dir}/*",
        f"-Dlog4j.configuration=file:{log4j}",
        KAFKA_MAIN,
        str(properties),
    ]
    handle = spawn(
        "kafka",
        command,
        port=port,
        pid_file=run_dir / "pids" / "kafka.pid",
        log_file=logs_dir / "kafka.log",
    )
    wait_kafka_ready(handle, timeout_s)
    return handle


def create_topics(kafka_bootstrap: str, settings: ServiceSettings | None = None) -> list[str]:
    """Creates the platform's topics that are missing (see ``ensure_topics``); returns
    the names created. ``settings`` chooses prefix and partitions (default: from the
    environment)."""
    chosen = settings or ServiceSettings()
    chosen = chosen.model_copy(update={"kafka_bootstrap_servers": kafka_bootstrap})
    return run_coroutine(lambda: ensure_topics(chosen))


# Redis -----------------------------------------------------------------------------------


def redis_server_binary() -> str:
    """Path of ``redis-server``; installs the Debian package first when it is missing."""
    found = shutil.which("redis-server")
    if found is not None:
        return found
    apt_get = shutil.which("apt-get")
    if apt_get is None or os.geteuid() != 0:
        raise PlatformError("redis-server is missing: install it (apt-get install redis-server)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt_get, "update"], [apt_get, "install", "-y", "redis-server"]):
        result = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, env=env, check=False
        )
        if result.returncode != 0:
            raise PlatformError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    found = shutil.which("redis-server")
    if found is None:
        raise PlatformError("redis-server is still missing after apt-get install")
    return found


def wait_redis_ready(handle: ProcessHandle, timeout_s: float = REDIS_READY_TIMEOUT_S) -> None:
    """Returns once Redis answers PING; stops it and raises PlatformError otherwise."""
    client = redis.Redis(host=LOCALHOST, port=handle.port, socket_timeout=1.0)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if not is_running(handle):
                raise PlatformError(f"Redis exited while starting:\n{log_tail(handle.log_file)}")
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.1)
    finally:
        client.close()
    stop(handle)
    raise PlatformError(
        f"Redis was not ready after {timeout_s:.0f} s:\n{log_tail(handle.log_file)}"
    )


def start_redis(
    run_dir: Path, port: int, timeout_s: float = REDIS_READY_TIMEOUT_S
) -> ProcessHandle:
    """Starts a Redis of our own on the loopback port with its files under ``run_dir/redis``
    (append-only file on, snapshots off) and returns once it answers PING."""
    data_dir = run_dir / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    log_file = run_dir / "logs" / "redis.log"
    command = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        LOCALHOST,
        "--dir",
        str(data_dir),
        "--daemonize",
        "no",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--protected-mode",
        "yes",
    ]
    handle = spawn(
        "redis", command, port=port, pid_file=run_dir / "pids" / "redis.pid", log_file=log_file
    )
    wait_redis_ready(handle, timeout_s)
    return handle


def redis_answers(port: int) -> bool:
    client = redis.Redis(host=LOCALHOST, port=port, socket_timeout=1.0)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


# Prometheus ------------------------------------------------------------------------------


def prometheus_binary(name: str = "prometheus") -> str:
    """Path of ``prometheus`` (or ``promtool``, from the same Debian package); installs the
    package first when it is missing."""
    found = shutil.which(name)
    if found is not None:
        return found
    apt_get = shutil.which("apt-get")
    if apt_get is None or os.geteuid() != 0:
        raise PlatformError(f"{name} is missing: install it (apt-get install prometheus)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt_get, "update"], [apt_get, "install", "-y", "prometheus"]):
        result = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, env=env, check=False
        )
        if result.returncode != 0:
            raise PlatformError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    found = shutil.which(name)
    if found is None:
        raise PlatformError(f"{name} is still missing after apt-get install prometheus")
    return found


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
        pid_file=run_dir / "pids" / "prometheus.pid",
        log_file=run_dir / "logs" / "prometheus.log",
    )
    wait_http_ready(handle, "/-/ready", timeout_s)
    return handle


# Services --------------------------------------------------------------------------------


def http_ok(port: int, path: str, timeout_s: float = 1.0) -> bool:
    """True when ``GET http://127.0.0.1:<port><path>`` answers 200."""
    url = f"http://{LOCALHOST}:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_http_ready(
    handle: ProcessHandle, path: str, timeout_s: float = SERVICE_READY_TIMEOUT_S
) -> None:
    """Returns once the process answers 200 on ``path``; stops it and raises otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_running(handle):
            raise PlatformError(
                f"{handle.name} exited while starting:\n{log_tail(handle.log_file)}"
            )
        if http_ok(handle.port, path):
            return
        time.sleep(0.2)
    stop(handle)
    raise PlatformError(
        f"{handle.name} did not answer 200 on {path} after {timeout_s:.0f} s:\n"
        f"{log_tail(handle.log_file)}"
    )


def start_service(
    spec: ServiceSpec,
    run_dir: Path,
    env: Mapping[str, str],
    cwd: Path = REPO_ROOT,
    timeout_s: float = SERVICE_READY_TIMEOUT_S,
) -> ProcessHandle:
    """Starts ``python -m <module>`` with ``env`` (see ``ServiceSpec.process_env``) and
    returns once its health path answers 200."""
    handle = spawn(
        spec.name,
        [sys.executable, "-m", spec.module],
        port=spec.port,
        pid_file=run_dir / "pids" / f"{spec.name}.pid",
        log_file=run_dir / "logs" / f"{spec.name}.log",
        env=env,
        cwd=cwd,
    )
    wait_http_ready(handle, spec.health_path, timeout_s)
    return handle


# The platform as a whole ----------------------------------------------------------------


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
    table: list[_Component] = [
        _Component(
            "kafka",
            (
                (config.kafka_port, "RISKSTREAM_KAFKA_PORT"),
                (config.kafka_controller_port, "RISKSTREAM_KAFKA_CONTROLLER_PORT"),
            ),
            lambda: start_kafka(
                run_dir, config.kafka_port, config.kafka_controller_port, config.kafka_lib_dir
            ),
            wait_kafka_ready,
            lambda: _kafka_answers(config.kafka_port),
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
            lambda handle: wait_http_ready(handle, "/-/ready", PROMETHEUS_READY_TIMEOUT_S),
            lambda: http_ok(config.prometheus_port, "/-/ready"),
        )
    )
    return [component for component in table if component.name in config.components]


def _service_component(config: PlatformConfig, spec: ServiceSpec) -> _Component:
    return _Component(
        spec.name,
        ((spec.port, spec.port_env),),
        lambda: start_service(spec, config.run_dir, config.service_env(spec), config.source_root),
        lambda handle: wait_http_ready(handle, spec.health_path),
        lambda: http_ok(spec.port, spec.health_path),
    )


def _kafka_answers(port: int) -> bool:
    try:
        run_coroutine(lambda: wait_for_kafka(_kafka_settings(port), timeout_s=3.0))
    except TimeoutError:
        return False
    return True


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
    ready; creates missing topics once Kafka is ready. Idempotent: components already up
    are only checked. Before starting anything, fails with PortInUseError if a port is
    held by a process we did not start. Returns ``{component: "started" | "running"}``."""
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
            create_topics(config.kafka_bootstrap, topic_settings)
    return outcome


def down(config: PlatformConfig) -> dict[str, str]:
    """Stops, in reverse start order, every selected component whose pid file names a live
    process we started; removes stale pid files without signalling anyone. Returns
    ``{component: "stopped" | "not running"}`` for each selected component."""
    outcome: dict[str, str] = {}
    for name in reversed(config.components):
        handle = find_running(config.pid_file(name))
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


def _parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    defaults = PlatformConfig.from_env(environ)
    parser = argparse.ArgumentParser(
        prog="python -m deploy.platform", description=__doc__.split("\n\n")[0] if __doc__ else ""
    )
    parser.add_argument("command", choices=("up", "down", "status", "install"))
    parser.add_argument(
        "--run-dir", type=Path, default=defaults.run_dir, help="env RISKSTREAM_RUN_DIR"
    )
    parser.add_argument(
        "--kafka-port", type=int, default=defaults.kafka_port, help="env RISKSTREAM_KAFKA_PORT"
    )
    parser.add_argument(
        "--kafka-controller-port",
        type=int,
        default=defaults.kafka_controller_port,
        help="env RISKSTREAM_KAFKA_CONTROLLER_PORT",
    )
    parser.add_argument(
        "--redis-port", type=int, default=defaults.redis_port, help="env RISKSTREAM_REDIS_PORT"
    )
    parser.add_argument(
        "--prometheus-port",
        type=int,
        default=defaults.prometheus_port,
        help="env RISKSTREAM_PROMETHEUS_PORT",
    )
    parser.add_argument(
        "--components",
        default=",".join(defaults.components),
        help=f"comma-separated, from {','.join(ALL_COMPONENTS)} "
        "(env RISKSTREAM_PLATFORM_COMPONENTS); service ports: env RISKSTREAM_<SERVICE>_PORT",
    )
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    """The command line; returns the exit status (1 with a message on PlatformError)."""
    args = _parser(environ).parse_args(argv)
    try:
        config = replace(
            PlatformConfig.from_env(environ),
            run_dir=args.run_dir.resolve(),
            kafka_port=args.kafka_port,
            kafka_controller_port=args.kafka_controller_port,
            redis_port=args.redis_port,
            prometheus_port=args.prometheus_port,
            components=parse_components(args.components),
        )
        started = time.monotonic()
        if args.command == "install":
            install(config)
            print(f"installed in {time.monotonic() - started:.1f} s")
        elif args.command == "status":
            for row in status(config):
                pid = "-" if row.pid is None else str(row.pid)
                print(f"{row.name:<10} pid {pid:<8} port {row.port:<6} {row.state}")
        else:
            outcome = up(config) if args.command == "up" else down(config)
            for name, what in outcome.items():
                print(f"{name:<10} {what}")
            print(f"{args.command} took {time.monotonic() - started:.1f} s")
    except PlatformError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Connection refusals while Kafka starts are expected; aiokafka would log each one.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    sys.exit(main())
