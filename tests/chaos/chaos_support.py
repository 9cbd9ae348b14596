"""What the fault tests share: simulated streams, reading topics to the end, polling, the
offline replay every rebuilt state is compared with, and wiping Redis to an empty restart."""

from __future__ import annotations

import asyncio
import shutil
import time
import urllib.request
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import orjson
import redis
from aiokafka import ConsumerRecord, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from deploy.harness import BackingServices, ServiceProcess
from offline.replay import FeatureReplay
from schemas.events import InboundEvent
from services.common.kafka import make_consumer, make_producer
from services.common.redis_keys import RedisKeys
from services.common.settings import ServiceSettings
from services.features.core import CustomerState, compute_features
from simulator import simulate

Features = dict[str, float | None]


def simulated_events(customers: int, seed: int, days: int = 30) -> list[InboundEvent]:
    """A small simulated stream ending a day ago, in event-time order."""
    start = datetime.now(UTC) - timedelta(days=days + 1)
    return simulate(customers=customers, days=days, seed=seed, start=start).events


async def produce_events(settings: ServiceSettings, events: Iterable[InboundEvent]) -> None:
    """Produces each event to its topic keyed by customer, as ingest would."""
    await produce(
        settings,
        (
            (
                settings.topics.event_topic(e.event_type),
                e.customer_id.encode(),
                orjson.dumps(e.model_dump(mode="json")),
            )
            for e in events
        ),
    )


async def produce(settings: ServiceSettings, records: Iterable[tuple[str, bytes, bytes]]) -> None:
    """Produces ``(topic, key, value)`` records and returns once Kafka acknowledged all."""
    producer = make_producer(settings, linger_ms=5)
    await producer.start()
    try:
        pending = [
            await producer.send(topic, key=key, value=value) for topic, key, value in records
        ]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def read_records(
    settings: ServiceSettings,
    topics: Iterable[str],
    done: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    timeout_s: float,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topics`` from the beginning, read until ``done`` holds for them or
    ``timeout_s`` passes (then whatever was read)."""
    consumer = make_consumer(settings, *topics, group_id=None)
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout_s
        while not done(records) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            records.extend(r for partition in batch.values() for r in partition if r.value)
    finally:
        await consumer.stop()
    return records


async def read_topics(
    settings: ServiceSettings,
    topics: Iterable[str],
    done: Callable[[list[bytes]], bool],
    timeout_s: float,
) -> list[bytes]:
    """The values of :func:`read_records`, read until ``done`` holds for them."""
    records = await read_records(
        settings, topics, lambda read: done([r.value for r in read if r.value]), timeout_s
    )
    return [r.value for r in records if r.value]


async def uncommitted_records(settings: ServiceSettings, group_id: str, topics: list[str]) -> int:
    """How many records of ``topics`` lie past the offsets ``group_id`` has committed
    (a partition never committed counts from its first offset)."""
    consumer = make_consumer(settings, group_id=group_id)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or set())
        ]
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        behind = 0
        for tp in partitions:
            committed = await consumer.committed(tp)
            behind += ends[tp] - (committed if committed is not None else starts[tp])
        return behind
    finally:
        await consumer.stop()


def events_counted(worker: ServiceProcess, outcome: str) -> int:
    """Records the feature worker has read since it started, with ``outcome`` (applied,
    duplicate, too_old, rejected), from its /metrics."""
    with urllib.request.urlopen(f"{worker.base_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return int(
        sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "riskstream_features_events"
            for sample in family.samples
            if sample.name.endswith("_total") and sample.labels.get("outcome") == outcome
        )
    )


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(0.2)


def offline_features(events: list[InboundEvent], as_of: datetime) -> dict[str, Features]:
    """What every customer's features are after a clean offline replay of ``events``."""
    replay = FeatureReplay()
    for event in sorted(events, key=lambda e: e.occurred_at):
        replay.apply(event)
    return {customer: replay.features(customer, as_of) for customer in replay.states()}


def redis_client(settings: ServiceSettings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url.get_secret_value(), socket_timeout=5.0)


def features_mismatches(
    settings: ServiceSettings, expected: dict[str, Features], as_of: datetime
) -> list[str]:
    """Customers whose state in Redis is missing or gives other features than expected."""
    keys = RedisKeys(settings.redis_key_prefix)
    customers = sorted(expected)
    client = redis_client(settings)
    try:
        stored = client.mget([keys.feature_state(c) for c in customers])
    finally:
        client.close()
    return [
        customer
        for customer, raw in zip(customers, stored, strict=True)
        if raw is None
        or compute_features(CustomerState.from_bytes(raw), as_of) != expected[customer]
    ]


def wait_for_feature_parity(
    settings: ServiceSettings, events: list[InboundEvent], timeout_s: float
) -> list[str]:
    """Polls until Redis holds, for every customer, the features an offline replay gives;
    returns the customers still wrong at the deadline (empty on success)."""
    as_of = datetime.now(UTC)
    expected = offline_features(events, as_of)
    deadline = time.monotonic() + timeout_s
    wrong = features_mismatches(settings, expected, as_of)
    while wrong and time.monotonic() < deadline:
        time.sleep(1.0)
        wrong = features_mismatches(settings, expected, as_of)
    return wrong


def stored_customer_count(settings: ServiceSettings) -> int:
    """How many customers have feature state in Redis under this test's key prefix."""
    pattern = RedisKeys(settings.redis_key_prefix).feature_state("*")
    client = redis_client(settings)
    try:
        return sum(1 for _ in client.scan_iter(match=pattern, count=1000))
    finally:
        client.close()


def restart_redis_empty(platform: BackingServices) -> None:
    """Stops Redis, removes its data files and starts it again: a Redis that lost its
    disk, as a replacement node or an ephemeral cache would come up."""
    platform.stop_redis()
    shutil.rmtree(platform.run_dir / "redis", ignore_errors=True)
    platform.start_redis()
