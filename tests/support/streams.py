"""Simulated event streams in and out of the test session's Kafka: producing events as
ingest would, and reading topics to the end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import orjson
from aiokafka import ConsumerRecord

from schemas.events import InboundEvent
from services.common.kafka import make_consumer, make_producer
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from simulator import simulate


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


async def read_topic_until(
    settings: ServiceSettings,
    topic: Topic,
    done: Callable[[list[bytes]], bool],
    timeout_s: float = 30.0,
) -> list[bytes]:
    """Every value of this test's ``topic`` from the start, read until ``done`` holds for
    them; fails the test when it does not hold within ``timeout_s``."""
    values = await read_topics(settings, [settings.topics(topic)], done, timeout_s)
    assert done(values), f"{topic} incomplete after {timeout_s} s: {len(values)} records"
    return values
