"""Kafka: the configuration the platform writes for a node, cluster ids, and the cached
install of the broker's jars."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from deploy.platform.kafka import (
    KAFKA_POM,
    KafkaNode,
    cluster_id_file,
    cluster_nodes,
    install_kafka,
    kafka_server_properties,
    new_cluster_id,
)


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and "=" in line)


def test_server_properties_describe_one_combined_node_on_loopback(tmp_path: Path) -> None:
    node = KafkaNode(node_id=1, port=19092, controller_port=19093, home=tmp_path)
    properties = _properties(kafka_server_properties(node, quorum=(node,)))

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


def test_server_properties_name_the_node_itself_and_every_voter_of_its_quorum(
    tmp_path: Path,
) -> None:
    quorum = [
        KafkaNode(
            node_id=n, port=19090 + 2 * n, controller_port=19091 + 2 * n, home=tmp_path / f"{n}"
        )
        for n in (1, 2, 3)
    ]
    properties = _properties(kafka_server_properties(quorum[1], quorum))

    assert properties["node.id"] == "2"
    assert properties["controller.quorum.voters"] == (
        "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"
    )
    assert properties["listeners"] == "PLAINTEXT://127.0.0.1:19094,CONTROLLER://127.0.0.1:19095"
    assert properties["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19094"
    assert properties["log.dirs"] == str(tmp_path / "2" / "data")


def test_three_nodes_replicate_everything_three_times_and_need_two_in_sync(
    tmp_path: Path,
) -> None:
    quorum = cluster_nodes(tmp_path, [(19092, 19093), (19094, 19095), (19096, 19097)])
    properties = _properties(kafka_server_properties(quorum[2], quorum))

    assert properties["default.replication.factor"] == "3"
    assert properties["offsets.topic.replication.factor"] == "3"
    assert properties["transaction.state.log.replication.factor"] == "3"
    assert properties["min.insync.replicas"] == "2"
    assert properties["transaction.state.log.min.isr"] == "2"
    assert properties["unclean.leader.election.enable"] == "false"
    assert properties["log.dirs"] == str(tmp_path / "kafka-cluster" / "node-3" / "data")
    assert cluster_id_file(quorum) == tmp_path / "kafka-cluster" / "cluster.id"
    (single,) = cluster_nodes(tmp_path, [(19092, 19093)])
    assert (single.name, single.home) == ("kafka", tmp_path / "kafka")
    assert cluster_id_file([single]) == tmp_path / "kafka" / "cluster.id"


def test_cluster_ids_are_16_random_bytes_never_starting_with_a_dash() -> None:
    ids = {new_cluster_id() for _ in range(300)}

    assert len(ids) == 300
    for cluster_id in ids:
        assert not cluster_id.startswith("-")
        assert "=" not in cluster_id
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_kafka_install_is_skipped_when_the_pom_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".pom.sha256").write_text(hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest())
    monkeypatch.setenv("PATH", "")  # Maven cannot run: a cache miss would fail

    assert install_kafka(tmp_path) is False
