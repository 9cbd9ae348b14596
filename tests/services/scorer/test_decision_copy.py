"""The decision copier writes a batch of records to a real Redis in one step: each record
under its id until the copy's retention ends, the customer's index of ids living as long as
its newest decision, ids past the retention leaving it, and records that are not decisions
dead-lettered."""

from datetime import UTC, datetime, timedelta

import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka import ConsumerRecord

from services.common.kafka import ResilientProducer
from services.common.redis_keys import RedisKeys
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from services.scorer.decision_copy import DecisionCopier
from services.scorer.settings import ScorerSettings
from tests.support.clock import SettableClock
from tests.support.streams import read_topic_until

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
DAY_MS = 24 * 3600 * 1000


def decision(decision_id: str, customer_id: str, days_ago: float) -> bytes:
    decided_at = NOW - timedelta(days=days_ago)
    return orjson.dumps(
        {"decision_id": decision_id, "customer_id": customer_id, "decided_at": decided_at}
    )


def record(offset: int, value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="risk.decisions",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=value,
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=len(value),
        headers=[],
    )


def ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


async def test_a_batch_is_copied_indexed_expired_and_dead_lettered(
    service_settings: ServiceSettings,
) -> None:
    settings = ScorerSettings(
        **{
            name: getattr(service_settings, name)
            for name in ServiceSettings.model_fields
            if name != "service_name"
        },
        decision_copy_days=30,
    )
    redis = aioredis.Redis.from_url(service_settings.redis_url.get_secret_value())
    keys = RedisKeys(service_settings.redis_key_prefix)
    sink = ResilientProducer(settings, timeout_s=10.0)
    await sink.start()
    await sink.wait_connected(30)
    copier = DecisionCopier(settings, redis, keys, sink, SettableClock(NOW))
    index = keys.customer_decisions("c1")
    try:
        # An id older than the retention already in the index leaves it.
        await redis.zadd(index, {"stale": ms(NOW) - 31 * DAY_MS})
        await copier.copy(
            [
                record(1, decision("d1", "c1", days_ago=2)),
                record(2, decision("d2", "c1", days_ago=1)),
                record(3, decision("d3", "c2", days_ago=3)),
                record(4, decision("old", "c2", days_ago=40)),
                record(5, b'{"not": "a decision"}'),
            ]
        )

        assert await redis.get(keys.decision("d1")) == decision("d1", "c1", days_ago=2)
        assert await redis.get(keys.decision("old")) is None
        # Each record expires when the copy's retention ends for it.
        assert await redis.pexpiretime(keys.decision("d1")) == ms(NOW) + 28 * DAY_MS
        assert await redis.pexpiretime(keys.decision("d3")) == ms(NOW) + 27 * DAY_MS
        assert await redis.zrange(index, 0, -1, withscores=True) == [
            (b"d1", ms(NOW) - 2 * DAY_MS),
            (b"d2", ms(NOW) - DAY_MS),
        ]
        # The index lives as long as its newest decision.
        assert await redis.pexpiretime(index) == ms(NOW) + 29 * DAY_MS
        assert await redis.zrange(keys.customer_decisions("c2"), 0, -1) == [b"d3"]
        letters = await read_topic_until(service_settings, Topic.DLQ, lambda read: len(read) >= 1)
        assert [orjson.loads(letter)["reason"] for letter in letters] == ["schema_violation"]
    finally:
        await sink.stop()
        await redis.aclose()
