"""Fixtures shared by the whole suite.

Integration tests (``@pytest.mark.integration``) get a Kafka and a Redis that this test
session starts on free ports in a temporary directory (the ``platform`` fixture), started
only when the first such test asks and stopped at the end of the session, whatever happened.
Each test then gets topics and Redis keys under prefixes of its own (``service_settings``,
``service_env``), and ``start_service`` runs service modules as subprocesses against them.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The deploy package (process management) is not part of the installed distribution;
# make it importable however pytest is invoked.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deploy.harness import BackingServices, ServiceProcess, isolated_settings, service_environment
from services.common.settings import ServiceSettings
from services.features.core import CustomerState
from tests.support.events import Events, build_state
from tests.support.platforms import service_starter

_BACKING_FIXTURES = {"platform_processes", "platform", "replicated_processes"}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the live platform is an integration test, marked or not, so
    ``-m "not integration"`` never starts Kafka."""
    for item in items:
        if _BACKING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def events() -> Events:
    """A fresh event builder (see :class:`tests.support.events.Events`)."""
    return Events()


@pytest.fixture(name="build_state")
def build_state_fixture() -> Callable[..., CustomerState]:
    """Builds a new feature state from events applied in the given order, each processed at
    its own ``occurred_at`` (as replay does); fails if any is not APPLIED."""
    return build_state


@pytest.fixture(scope="session")
def platform_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackingServices]:
    """The session's own Kafka and Redis, stopped when the session ends."""
    backing = BackingServices(tmp_path_factory.mktemp("platform"))
    try:
        backing.start()
        yield backing
    finally:
        backing.close()


@pytest.fixture
def platform(platform_processes: BackingServices) -> BackingServices:
    """The session's Kafka and Redis, both up when the test starts (whatever an earlier
    test stopped is started again). ``kafka_bootstrap`` and ``redis_url`` say where they
    are; a test may ``stop_kafka()``, ``kill_kafka()``, ``restart_kafka()`` and the same
    for Redis."""
    platform_processes.start()
    return platform_processes


@pytest.fixture
def topic_prefix() -> str:
    """A topic prefix no other test uses, e.g. ``t1a2b3c4d.``."""
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture
def service_settings(platform: BackingServices, topic_prefix: str) -> ServiceSettings:
    """Settings for in-process use: the session's Kafka and Redis, this test's topic and
    Redis key prefixes; every platform topic already exists under the prefix."""
    return isolated_settings(platform, topic_prefix)


@pytest.fixture
def service_env(service_settings: ServiceSettings) -> dict[str, str]:
    """The environment for a service subprocess that matches ``service_settings``."""
    return service_environment(service_settings)


@pytest.fixture
def start_service(
    service_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., ServiceProcess]]:
    """``start_service("ingest", RISKSTREAM_X="y")`` runs the service on a free port with
    ``service_env`` (plus the given variables) and returns once it is ready; every service
    started this way is stopped when the test ends."""
    with service_starter(service_env, tmp_path) as start:
        yield start
