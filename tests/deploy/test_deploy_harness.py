"""The fixtures integration tests rely on: the session platform survives restarts and
crashes, each test gets its own topics, and service subprocesses start, stop and die."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import redis

from deploy.harness import BackingServices, ServiceProcess
from deploy.platform.kafka import run_coroutine
from deploy.platform.processes import port_is_free
from services.common.kafka import describe_topics
from services.common.settings import ServiceSettings


def test_each_test_gets_its_own_topics(
    service_settings: ServiceSettings, service_env: dict[str, str], topic_prefix: str
) -> None:
    partitions = run_coroutine(lambda: describe_topics(service_settings))

    assert set(partitions) == {
        spec.name for spec in service_settings.topics.specs(service_settings.event_partitions)
    }
    assert all(name.startswith(topic_prefix) for name in partitions)
    assert service_env["RISKSTREAM_TOPIC_PREFIX"] == topic_prefix
    assert service_env["RISKSTREAM_ENV"] == "test"
    assert service_env["RISKSTREAM_KAFKA_BOOTSTRAP_SERVERS"] == (
        service_settings.kafka_bootstrap_servers
    )


def test_topics_survive_a_kafka_crash_and_redis_data_a_clean_restart(
    platform: BackingServices, service_settings: ServiceSettings
) -> None:
    client = redis.Redis.from_url(platform.redis_url)
    client.set(f"{service_settings.redis_key_prefix}:kept", b"yes")

    platform.kill_kafka()
    platform.restart_redis()
    platform.start_kafka()

    assert run_coroutine(lambda: describe_topics(service_settings))
    assert client.get(f"{service_settings.redis_key_prefix}:kept") == b"yes"
    client.close()


def test_a_service_subprocess_is_ready_then_stopped_or_killed(
    start_service: Callable[..., ServiceProcess], service_env: dict[str, str], tmp_path: Path
) -> None:
    ingest = start_service("ingest")

    assert httpx.get(f"{ingest.base_url}/ready").status_code == 200
    ingest.stop()
    assert port_is_free(ingest.port)

    with ServiceProcess("ingest", service_env, tmp_path / "second") as second:
        assert second.port != ingest.port
        pid = second.pid
        assert pid is not None
        second.kill()
        assert not Path(f"/proc/{pid}").exists()
        assert port_is_free(second.port)
    assert "Application startup complete" in second.log_text()
