"""Settings and service environments for a test on a platform the session started (the
single-broker ``platform`` or the three-broker ``replicated_platform``): this test's topic
and key prefixes, the platform's addresses and its replication factor."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from deploy.harness import BackingServices, ServiceProcess
from deploy.platform.kafka import create_topics
from services.common.settings import ServiceSettings


def settings_on(backing: BackingServices, topic_prefix: str) -> ServiceSettings:
    """Settings for in-process use on ``backing``; every platform topic already exists
    under the prefix, with the replication the cluster allows."""
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


def environment_of(settings: ServiceSettings) -> dict[str, str]:
    """The environment for a service subprocess that matches ``settings``."""
    return {
        **os.environ,
        "RISKSTREAM_ENV": "test",
        "RISKSTREAM_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "RISKSTREAM_REDIS_URL": settings.redis_url.get_secret_value(),
        "RISKSTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "RISKSTREAM_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "RISKSTREAM_TOPIC_REPLICATION_FACTOR": str(settings.topic_replication_factor),
    }


@contextmanager
def service_starter(env: dict[str, str], run_dir: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """``start("ingest", RISKSTREAM_X="y")`` runs the service on a free port with ``env``
    (plus the given variables) and returns once it is ready; every service started is
    stopped on leaving."""
    started: list[ServiceProcess] = []

    def start(service: str, **extra_env: str) -> ServiceProcess:
        process = ServiceProcess(service, {**env, **extra_env}, run_dir)
        started.append(process)
        return process.start()

    try:
        yield start
    finally:
        for process in reversed(started):
            process.stop()
