"""Apache Kafka in KRaft mode, from Maven Central jars: installing the jars the pinned pom
names, writing a node's configuration, formatting its storage, starting it, waiting until
it answers, and creating the platform's topics.

The platform runs one node that is broker and controller at once, or a cluster of such
nodes on one machine (three, say: one controller quorum, distinct node ids, ports and
directories); ``start_kafka_cluster`` starts either. A node is a ``KafkaNode``
(its id, ports, directory and process name) and its server.properties are rendered
against the controller quorum it belongs to, so the steps here are the same for every
node of a cluster: ``spawn_kafka_node`` starts one without waiting for it, and
``wait_kafka_ready`` waits for a started node. A cluster of three or more replicates
everything three times and acknowledges a write (``acks=all``) once two replicas have it
(``min.insync.replicas=2``), so it survives the loss of any one node.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient

from deploy.platform import paths
from deploy.platform.processes import (
    LOCALHOST,
    PlatformError,
    ProcessHandle,
    is_running,
    log_tail,
    spawn,
    stop,
)
from services.common.kafka import client_kwargs, ensure_topics, wait_for_kafka
from services.common.settings import ServiceSettings

KAFKA_POM = paths.REPO_ROOT / "deploy" / "kafka" / "pom.xml"
KAFKA_MAIN = "kafka.Kafka"
KAFKA_HEAP = ("-Xms256m", "-Xmx512m")
KAFKA_READY_TIMEOUT_S = 120.0
_INSTALL_MARKER = ".pom.sha256"

T = TypeVar("T")


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


# Installing the jars ----------------------------------------------------------------------


def default_kafka_lib_dir(run_dir: Path = paths.DEFAULT_RUN_DIR) -> Path:
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


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise PlatformError("java (17 or later) is needed for Kafka: apt-get install default-jre")
    return java


# A node and its configuration --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KafkaNode:
    """One Kafka process in KRaft mode, broker and controller at once, on the loopback
    address: clients connect to ``port``, the controller quorum talks on
    ``controller_port``. Its configuration and data live under ``home``; ``name`` names
    its pid file and logs in the run directory. The nodes of one cluster differ in node
    id, ports and home, and share a cluster id and a controller quorum."""

    node_id: int
    port: int
    controller_port: int
    home: Path
    name: str = "kafka"

    @property
    def data_dir(self) -> Path:
        """Its log directory (``log.dirs``): topic partitions and the cluster metadata."""
        return self.home / "data"

    @property
    def config_dir(self) -> Path:
        return self.home / "config"

    @property
    def properties_file(self) -> Path:
        return self.config_dir / "server.properties"

    @property
    def log4j_file(self) -> Path:
        return self.config_dir / "log4j.properties"

    @property
    def quorum_voter(self) -> str:
        """This node as an entry of ``controller.quorum.voters``: ``id@host:port``."""
        return f"{self.node_id}@{LOCALHOST}:{self.controller_port}"


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding, and never
    starting with '-' (the storage tool would read it as an option)."""
    while True:
        candidate = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


def replication_of(nodes: int) -> tuple[int, int]:
    """(replication factor, minimum in-sync replicas) for a cluster of ``nodes``: three
    copies and two in sync once there are three nodes, so one node may fail; a smaller
    cluster keeps one copy per node it has and needs only one in sync."""
    if nodes >= 3:
        return 3, 2
    return nodes, 1


def kafka_server_properties(node: KafkaNode, quorum: Sequence[KafkaNode]) -> str:
    """server.properties of ``node`` in the cluster whose controllers are ``quorum``
    (``node`` among them); every node is a controller and a broker."""
    voters = ",".join(voter.quorum_voter for voter in quorum)
    replicas, min_in_sync = replication_of(len(quorum))
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={node.node_id}",
            f"controller.quorum.voters={voters}",
            f"listeners=PLAINTEXT://{LOCALHOST}:{node.port},"
            f"CONTROLLER://{LOCALHOST}:{node.controller_port}",
            f"advertised.listeners=PLAINTEXT://{LOCALHOST}:{node.port}",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={node.data_dir}",
            # Internal topics and topics created without a factor get as many replicas
            # as the cluster allows (see replication_of).
            f"offsets.topic.replication.factor={replicas}",
            f"transaction.state.log.replication.factor={replicas}",
            f"transaction.state.log.min.isr={min_in_sync}",
            f"default.replication.factor={replicas}",
            f"min.insync.replicas={min_in_sync}",
            # A replica that fell behind never becomes leader: no acknowledged write lost.
            "unclean.leader.election.enable=false",
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


def format_kafka_storage(node: KafkaNode, cluster_id_file: Path, lib_dir: Path) -> None:
    """Formats the node's log directory for the cluster whose id ``cluster_id_file``
    keeps (a new id is written there first if it is missing). A directory formatted by an
    earlier start is left alone, without starting a JVM."""
    if (node.data_dir / "meta.properties").is_file():
        return
    if not cluster_id_file.is_file():
        cluster_id_file.write_text(new_cluster_id())
    command = [
        _java(),
        "-cp",
        f"{lib_dir}/*",
        f"-Dlog4j.configuration=file:{node.log4j_file}",
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cluster_id_file.read_text().strip(),
        "-c",
        str(node.properties_file),
        "--ignore-formatted",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise PlatformError(f"Kafka storage format failed:\n{result.stdout}\n{result.stderr}")


# Starting and readiness --------------------------------------------------------------------


def _kafka_settings(port: int) -> ServiceSettings:
    return ServiceSettings(kafka_bootstrap_servers=f"{LOCALHOST}:{port}")


def kafka_answers(port: int) -> bool:
    """True when the broker on the loopback ``port`` answers a metadata request within 3 s."""
    try:
        run_coroutine(lambda: wait_for_kafka(_kafka_settings(port), timeout_s=3.0))
    except TimeoutError:
        return False
    return True


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


def spawn_kafka_node(
    node: KafkaNode,
    quorum: Sequence[KafkaNode],
    cluster_id_file: Path,
    lib_dir: Path,
    run_dir: Path,
) -> ProcessHandle:
    """Writes the node's configuration, formats its storage on its first start and starts
    it with the jars in ``lib_dir``; returns at once (see ``wait_kafka_ready``). Its pid
    file and logs go to ``run_dir`` under the node's name."""
    node.config_dir.mkdir(parents=True, exist_ok=True)
    node.properties_file.write_text(kafka_server_properties(node, quorum))
    node.log4j_file.write_text(
        kafka_log4j_properties(paths.log_file(run_dir, f"{node.name}-server"))
    )
    format_kafka_storage(node, cluster_id_file, lib_dir)
    command = [
        _java(),
        *KAFKA_HEAP,
        "-cp",
        f"{lib_dir}/*",
        f"-Dlog4j.configuration=file:{node.log4j_file}",
        KAFKA_MAIN,
        str(node.properties_file),
    ]
    return spawn(
        node.name,
        command,
        port=node.port,
        pid_file=paths.pid_file(run_dir, node.name),
        log_file=paths.log_file(run_dir, node.name),
    )


def cluster_nodes(run_dir: Path, ports: Sequence[tuple[int, int]]) -> list[KafkaNode]:
    """The nodes of a cluster on ``ports`` (client port, controller port) per node. One
    node lives in ``run_dir/kafka`` under the name ``kafka``; the nodes of a larger
    cluster in ``run_dir/kafka-cluster/node-<id>``, named ``kafka``
    (the first, whose pid file stands for the cluster) and ``kafka-<id>``. A cluster's
    directories are its own: its quorum differs from a single node's."""
    if len(ports) == 1:
        ((port, controller_port),) = ports
        return [KafkaNode(1, port, controller_port, run_dir / "kafka")]
    return [
        KafkaNode(
            node_id,
            port,
            controller_port,
            run_dir / "kafka-cluster" / f"node-{node_id}",
            "kafka" if node_id == 1 else f"kafka-{node_id}",
        )
        for node_id, (port, controller_port) in enumerate(ports, start=1)
    ]


def cluster_id_file(nodes: Sequence[KafkaNode]) -> Path:
    """Where the cluster id of ``nodes`` is kept (beside the first node's directory)."""
    return nodes[0].home.parent / "cluster.id" if len(nodes) > 1 else nodes[0].home / "cluster.id"


def start_kafka_cluster(
    run_dir: Path,
    nodes: Sequence[KafkaNode],
    lib_dir: Path | None = None,
    timeout_s: float = KAFKA_READY_TIMEOUT_S,
) -> list[ProcessHandle]:
    """Starts every node of a cluster (see ``cluster_nodes``) and returns once each
    answers metadata requests; the quorum elects a controller once most nodes run, so all
    are spawned before any is waited for. Jars come from ``lib_dir`` (installed there
    first if needed; default ``run_dir/kafka/lib``). Data survives a stop, so a second
    call with the same nodes restarts the same cluster."""
    lib_dir = lib_dir or default_kafka_lib_dir(run_dir)
    install_kafka(lib_dir)
    id_file = cluster_id_file(nodes)
    id_file.parent.mkdir(parents=True, exist_ok=True)
    if not id_file.is_file():
        id_file.write_text(new_cluster_id())
    handles = [spawn_kafka_node(node, nodes, id_file, lib_dir, run_dir) for node in nodes]
    try:
        for handle in handles:
            wait_kafka_ready(handle, timeout_s)
    except PlatformError:
        for handle in handles:
            stop(handle)
        raise
    return handles


# Topics ------------------------------------------------------------------------------------


def create_topics(kafka_bootstrap: str, settings: ServiceSettings | None = None) -> list[str]:
    """Creates the platform's topics that are missing (see ``ensure_topics``); returns
    the names created. ``settings`` chooses prefix and partitions (default: from the
    environment)."""
    chosen = settings or ServiceSettings()
    chosen = chosen.model_copy(update={"kafka_bootstrap_servers": kafka_bootstrap})
    return run_coroutine(lambda: ensure_topics(chosen))


async def under_replicated_partitions(settings: ServiceSettings) -> int:
    """Partitions of the platform's topics (under ``settings``' prefix) whose in-sync
    replicas are fewer than their replicas: 0 once a restarted broker has caught up."""
    names = [spec.name for spec in settings.topics.specs(settings.event_partitions)]
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    return sum(
        1
        for topic in described
        for partition in topic["partitions"]
        if len(partition["isr"]) < len(partition["replicas"])
    )
