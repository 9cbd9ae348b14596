"""The feature worker against the real Kafka and Redis: every customer's state in Redis
must give exactly the features an offline replay of the same events gives, also after a
worker is killed with SIGKILL mid-stream (alone, or beside a second worker that takes over
its partitions from the changelog)."""

from __future__ import annotations

import asyncio
import base64
import time
import urllib.request
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from redis import Redis

from deploy.harness import ServiceProcess
from offline.replay import FeatureReplay
from schemas.events import InboundEvent
from services.common.redis_keys import RedisKeys
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from services.features.core import CustomerState, compute_features
from simulator import simulate

pytestmark = pytest.mark.integration


def simulated_events(customers: int, seed: int) -> list[InboundEvent]:
    start = datetime.now(UTC) - timedelta(days=61)
    return simulate(customers=customers, days=60, seed=seed, start=start).events


async def produce(settings: ServiceSettings, events: Iterable[InboundEvent]) -> int:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=5
    )
    await producer.start()
    sent = 0
    try:
        batch = []
        for event in events:
            batch.append(
                await producer.send(
                    settings.topics.event_topic(event.event_type),
                    key=event.customer_id.encode(),
                    value=orjson.dumps(event.model_dump(mode="json")),
                )
            )
            sent += 1
        await asyncio.gather(*batch)
    finally:
        await producer.stop()
    return sent


def offline_features(
    events: list[InboundEvent], as_of: datetime
) -> dict[str, dict[str, float | None]]:
    replay = FeatureReplay()
    for event in sorted(events, key=lambda e: e.occurred_at):
        replay.apply(event)
    return {customer: replay.features(customer, as_of) for customer in replay.states()}


def mismatches(
    redis: Redis, keys: RedisKeys, expected: dict[str, dict[str, float | None]], as_of: datetime
) -> list[str]:
    customers = sorted(expected)
    stored = redis.mget([keys.feature_state(c) for c in customers])
    wrong = []
    for customer, raw in zip(customers, stored, strict=True):
        if (
            raw is None
            or compute_features(CustomerState.from_bytes(raw), as_of) != expected[customer]
        ):
            wrong.append(customer)
    return wrong


def wait_for_parity(
    redis: Redis,
    keys: RedisKeys,
    expected: dict[str, dict[str, float | None]],
    as_of: datetime,
    timeout_s: float,
) -> list[str]:
    deadline = time.monotonic() + timeout_s
    wrong = mismatches(redis, keys, expected, as_of)
    while wrong and time.monotonic() < deadline:
        time.sleep(1.0)
        wrong = mismatches(redis, keys, expected, as_of)
    return wrong


def processed_count(worker: ServiceProcess) -> float:
    with urllib.request.urlopen(f"{worker.base_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("riskstream_features_events_total{")
    )


def wait_until(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def test_kill_9_mid_stream_loses_nothing_and_matches_offline_replay(
    service_settings: ServiceSettings, start_service: Callable[..., ServiceProcess]
) -> None:
    events = simulated_events(customers=1100, seed=11)
    assert len(events) >= 20_000
    assert len({e.customer_id for e in events}) >= 1000
    half = len(events) // 2
    worker = start_service("features")
    asyncio.run(produce(service_settings, events[:half]))
    wait_until(lambda: processed_count(worker) >= half // 3, timeout_s=120)
    worker.kill()
    asyncio.run(produce(service_settings, events[half:]))
    worker.start()

    as_of = datetime.now(UTC)
    expected = offline_features(events, as_of)
    redis = Redis.from_url(service_settings.redis_url.get_secret_value())
    wrong = wait_for_parity(
        redis, RedisKeys(service_settings.redis_key_prefix), expected, as_of, timeout_s=240
    )
    assert wrong == []


def test_a_second_worker_takes_over_the_partitions_of_a_killed_one(
    service_settings: ServiceSettings, start_service: Callable[..., ServiceProcess]
) -> None:
    events = simulated_events(customers=1000, seed=12)
    half = len(events) // 2
    first = start_service("features")
    second = start_service("features")
    asyncio.run(produce(service_settings, events[:half]))
    wait_until(lambda: processed_count(first) + processed_count(second) >= half // 2, timeout_s=120)
    first.kill()
    asyncio.run(produce(service_settings, events[half:]))

    as_of = datetime.now(UTC)
    expected = offline_features(events, as_of)
    redis = Redis.from_url(service_settings.redis_url.get_secret_value())
    wrong = wait_for_parity(
        redis, RedisKeys(service_settings.redis_key_prefix), expected, as_of, timeout_s=240
    )
    assert wrong == []


async def read_all(
    settings: ServiceSettings, topic: Topic, expected: int, timeout_s: float
) -> list[dict[str, object]]:
    consumer = AIOKafkaConsumer(
        settings.topics(topic),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    records: list[dict[str, object]] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(records) < expected and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                records.extend(orjson.loads(m.value) for m in messages)
    finally:
        await consumer.stop()
    return records


def test_bad_records_go_to_the_dead_letter_topic_and_the_stream_goes_on(
    service_settings: ServiceSettings, start_service: Callable[..., ServiceProcess]
) -> None:
    events = simulated_events(customers=5, seed=3)[:20]
    start_service("features")
    poison = [
        (Topic.ORDERS, b"c-bad", b"\xff\xfe not utf-8"),
        (Topic.PAYMENTS, b"c-bad", b'{"event_id": "x"}'),
        (Topic.REVIEWS, b"c-bad", b"[]"),
        (
            Topic.REFUNDS,
            events[0].customer_id.encode(),
            orjson.dumps(events[0].model_dump(mode="json")),
        ),
    ]

    async def send_poison() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=service_settings.kafka_bootstrap_servers)
        await producer.start()
        try:
            for topic, key, value in poison:
                await producer.send_and_wait(service_settings.topics(topic), value=value, key=key)
        finally:
            await producer.stop()

    asyncio.run(send_poison())
    asyncio.run(produce(service_settings, events))
    letters = asyncio.run(read_all(service_settings, Topic.DLQ, expected=len(poison), timeout_s=60))
    reasons = {(r["source_topic"], r["reason"]) for r in letters}
    prefix = service_settings.topic_prefix
    wrong_topic = "wrong_topic" if events[0].event_type != "refund" else "schema_violation"
    assert (f"{prefix}events.orders", "invalid_json") in reasons
    assert (f"{prefix}events.payments", "schema_violation") in reasons
    assert (f"{prefix}events.reviews", "schema_violation") in reasons
    assert (f"{prefix}events.refunds", wrong_topic) in reasons
    first = next(r for r in letters if r["reason"] == "invalid_json")
    assert base64.b64decode(str(first["value_b64"])) == b"\xff\xfe not utf-8"
    assert isinstance(first["offset"], int)
    assert isinstance(first["partition"], int)

    as_of = datetime.now(UTC)
    expected = offline_features(events, as_of)
    redis = Redis.from_url(service_settings.redis_url.get_secret_value())
    assert (
        wait_for_parity(
            redis, RedisKeys(service_settings.redis_key_prefix), expected, as_of, timeout_s=60
        )
        == []
    )
