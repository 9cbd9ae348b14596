"""The feature worker's state survives losing either copy of it: Redis restarted empty is
repopulated from the worker's table, and a worker whose local RocksDB directory is gone
rebuilds its table from the changelog topic. Either way every customer's features equal an
offline replay of the same events."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy.harness import BackingServices, ServiceProcess
from services.common.kafka import uncommitted_records
from services.common.settings import ServiceSettings
from services.common.topics import EVENT_TOPICS
from services.features.settings import FeaturesSettings
from tests.chaos.chaos_support import restart_redis_empty
from tests.support.parity import events_counted, stored_customer_count, wait_for_feature_parity
from tests.support.polling import wait_until
from tests.support.streams import produce_events, simulated_events

pytestmark = pytest.mark.integration


def test_redis_restarted_empty_is_repopulated_from_the_table_on_worker_restart(
    service_settings: ServiceSettings,
    start_service: Callable[..., ServiceProcess],
    platform: BackingServices,
) -> None:
    events = simulated_events(customers=300, seed=21)
    customers = len({e.customer_id for e in events})
    worker = start_service("features")
    asyncio.run(produce_events(service_settings, events))
    assert wait_for_feature_parity(service_settings, events, timeout_s=120) == []

    restart_redis_empty(platform)
    assert stored_customer_count(service_settings) == 0
    worker.stop()
    worker.start()

    assert wait_for_feature_parity(service_settings, events, timeout_s=120) == []
    assert stored_customer_count(service_settings) == customers


def test_the_worker_commits_what_it_processed_so_a_restart_reads_on_from_there(
    service_settings: ServiceSettings, start_service: Callable[..., ServiceProcess]
) -> None:
    events = simulated_events(customers=200, seed=23)
    topics = [service_settings.topics.event_topic(t) for t in EVENT_TOPICS]
    group = FeaturesSettings(topic_prefix=service_settings.topic_prefix).app_id
    worker = start_service("features")
    asyncio.run(produce_events(service_settings, events))
    assert wait_for_feature_parity(service_settings, events, timeout_s=120) == []
    wait_until(
        lambda: asyncio.run(uncommitted_records(service_settings, group, topics)) == 0,
        timeout_s=30,
        what="every processed record committed",
    )

    worker.stop()
    worker.start()
    more = simulated_events(customers=20, seed=24)
    asyncio.run(produce_events(service_settings, more))

    assert wait_for_feature_parity(service_settings, events + more, timeout_s=60) == []
    # Only the new events were read again: none of the first stream came back as a duplicate.
    assert events_counted(worker, "duplicate") == 0
    assert events_counted(worker, "applied") == len(more)


def test_a_lost_state_directory_is_rebuilt_from_the_changelog(
    service_settings: ServiceSettings, start_service: Callable[..., ServiceProcess]
) -> None:
    events = simulated_events(customers=300, seed=22)
    half = len(events) // 2
    worker = start_service("features")
    asyncio.run(produce_events(service_settings, events[:half]))
    assert wait_for_feature_parity(service_settings, events[:half], timeout_s=120) == []

    worker.stop()
    data_dir = Path(worker.env["RISKSTREAM_FEATURES_DATA_DIR"])
    assert data_dir.is_dir()
    shutil.rmtree(data_dir)
    worker.start()
    # Later events extend histories the worker must have got back from the changelog:
    # applied to an empty table they would give other features.
    asyncio.run(produce_events(service_settings, events[half:]))

    assert wait_for_feature_parity(service_settings, events, timeout_s=150) == []
    assert data_dir.is_dir()


def test_events_sent_while_the_worker_is_down_survive_a_lost_state_directory(
    service_settings: ServiceSettings, start_service: Callable[..., ServiceProcess]
) -> None:
    events = simulated_events(customers=300, seed=22)
    half = len(events) // 2
    worker = start_service("features")
    asyncio.run(produce_events(service_settings, events[:half]))
    assert wait_for_feature_parity(service_settings, events[:half], timeout_s=120) == []

    worker.stop()
    shutil.rmtree(Path(worker.env["RISKSTREAM_FEATURES_DATA_DIR"]))
    asyncio.run(produce_events(service_settings, events[half:]))
    worker.start()

    assert wait_for_feature_parity(service_settings, events, timeout_s=90) == []
