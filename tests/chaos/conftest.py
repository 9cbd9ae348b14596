"""The fault tests' three-broker platform: a KRaft cluster of three nodes on this machine
(one controller quorum, replication factor 3, ``min.insync.replicas=2``) and a Redis of
its own, started once for the session when the first test asks for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deploy.harness import BackingServices, ServiceProcess, isolated_settings, service_environment
from services.common.settings import ServiceSettings
from tests.support.platforms import service_starter

BROKERS = 3


@pytest.fixture(scope="session")
def replicated_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackingServices]:
    backing = BackingServices(tmp_path_factory.mktemp("replicated"), brokers=BROKERS)
    try:
        backing.start()
        yield backing
    finally:
        backing.close()


@pytest.fixture
def replicated_platform(replicated_processes: BackingServices) -> BackingServices:
    """The three-broker cluster and its Redis, every node up when the test starts
    (whatever an earlier test stopped or killed is started again)."""
    replicated_processes.start()
    return replicated_processes


@pytest.fixture
def replicated_settings(replicated_platform: BackingServices, topic_prefix: str) -> ServiceSettings:
    """This test's topics on the cluster, three replicas each."""
    return isolated_settings(replicated_platform, topic_prefix)


@pytest.fixture
def start_replicated(
    replicated_settings: ServiceSettings, tmp_path: Path
) -> Iterator[Callable[..., ServiceProcess]]:
    """``start_service`` on the three-broker cluster."""
    with service_starter(service_environment(replicated_settings), tmp_path) as start:
        yield start
