"""Batched sends land where single sends would, in order; a consumer's handled batches are
committed by the time it stops, however long its commit interval."""

import asyncio
import contextlib
import random
from collections.abc import Sequence

import pytest
from aiokafka.partitioner import DefaultPartitioner

from services.common.consuming import Record, consume_batches
from services.common.kafka import (
    KeyPartitioner,
    LagReporter,
    ResilientProducer,
    ensure_topics,
    make_consumer,
)
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from tests.support.streams import read_records


def test_the_partitioner_places_keys_as_the_default_one_does() -> None:
    partitioner = KeyPartitioner(capacity=8)
    default = DefaultPartitioner()
    keys = [f"cust-{random.randrange(50)}".encode() for _ in range(400)]
    for count in (1, 6, 7):
        partitions = list(range(count))
        for key in keys:
            assert partitioner(key, partitions, partitions) == default(key, partitions, partitions)
    assert partitioner(None, [0, 1, 2], [0, 1, 2]) in {0, 1, 2}


@pytest.mark.integration
async def test_a_batch_send_lands_by_key_in_order_and_is_committed_when_consumed(
    service_settings: ServiceSettings,
) -> None:
    await ensure_topics(service_settings)
    topic = service_settings.topics(Topic.SCORES)
    producer = ResilientProducer(service_settings, timeout_s=10)
    await producer.start()
    await producer.wait_connected(30)
    records = [(f"cust-{n % 9}".encode(), f"{n}".encode()) for n in range(300)]
    records.insert(5, (None, b"no key"))
    try:
        await producer.send_all(topic, records)
    finally:
        await producer.stop()

    read = await read_records(service_settings, [topic], lambda got: len(got) >= 301, 30)
    partitions = sorted({r.partition for r in read})
    default = DefaultPartitioner()
    by_key: dict[bytes, list[bytes]] = {}
    for record in read:
        if record.key is not None:
            everywhere = list(range(service_settings.event_partitions))
            assert record.partition == default(record.key, everywhere, everywhere)
            by_key.setdefault(record.key, []).append(record.value or b"")
    assert len(partitions) > 1
    assert by_key == {
        key: [value for k, value in records if k == key] for key in {k for k, _ in records if k}
    }

    handled: list[int] = []

    async def handle(batch: Sequence[Record]) -> None:
        handled.extend(record.offset for record in batch)

    group = f"{service_settings.topic_prefix}committer"
    consumer = make_consumer(service_settings, topic, group_id=group)
    await consumer.start()
    consuming = asyncio.create_task(
        consume_batches(
            consumer, handle, max_records=50, lag=LagReporter(group), commit_interval_s=3600
        )
    )
    try:
        for _ in range(300):
            if len(handled) >= 301:
                break
            await asyncio.sleep(0.1)
    finally:
        consuming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consuming
    committed = {tp: await consumer.committed(tp) for tp in consumer.assignment()}
    await consumer.stop()
    assert len(handled) == 301
    ends = {}
    for record in read:
        ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
    assert {tp.partition: offset for tp, offset in committed.items() if offset} == ends
