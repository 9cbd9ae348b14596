"""The epoch key and the guard that rebuilds a writer's keys, on the session's Redis."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from deploy.harness import BackingServices
from services.common.rebuilds import EpochGuard, EpochMarker, Pacer
from services.common.redis_keys import RedisKeys, Writer

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(platform: BackingServices) -> AsyncIterator[Redis]:
    client = Redis.from_url(platform.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def keys(topic_prefix: str) -> RedisKeys:
    return RedisKeys(topic_prefix.rstrip("."))


async def test_a_rebuild_marks_its_partitions_complete_unless_redis_lost_data_meanwhile(
    redis: Redis, keys: RedisKeys
) -> None:
    marker = EpochMarker(redis, keys, Writer.FEATURES)
    assert await marker.missing({0, 1, 2}) == {0, 1, 2}

    token = await marker.begin()
    assert await marker.complete(token, {0, 2})
    assert await marker.missing({0, 1, 2}) == {1}

    lost = await marker.begin()
    await redis.delete(keys.epoch(Writer.FEATURES), keys.rebuild_claim(Writer.FEATURES, lost))
    assert not await marker.complete(lost, {1})
    assert await marker.missing({0, 1, 2}) == {0, 1, 2}


async def test_the_guard_rebuilds_what_is_missing_and_stays_quiet_while_complete(
    redis: Redis, keys: RedisKeys
) -> None:
    guard = EpochGuard(Writer.WARNING, EpochMarker(redis, keys, Writer.WARNING), 0.01)
    rewritten: list[frozenset[int]] = []

    async def rewrite(partitions: frozenset[int]) -> bool:
        rewritten.append(partitions)
        return True

    await guard.check(frozenset({0, 1}), rewrite)
    assert not guard.complete()
    await guard.check(frozenset({0, 1}), rewrite)
    assert guard.complete()
    assert await guard.details() == {"store": "complete"}
    await redis.delete(keys.epoch(Writer.WARNING))
    await guard.check(frozenset({0, 1, 2}), rewrite)

    assert rewritten == [frozenset({0, 1}), frozenset({0, 1, 2})]


async def test_a_rewrite_that_stops_short_marks_nothing_and_is_tried_again(
    redis: Redis, keys: RedisKeys
) -> None:
    guard = EpochGuard(Writer.FEATURES, EpochMarker(redis, keys, Writer.FEATURES), 0.01)
    outcomes = iter([False, True])

    async def rewrite(partitions: frozenset[int]) -> bool:
        return next(outcomes)

    await guard.check(frozenset({0}), rewrite)
    assert await EpochMarker(redis, keys, Writer.FEATURES).missing({0}) == {0}
    await guard.check(frozenset({0}), rewrite)
    assert await EpochMarker(redis, keys, Writer.FEATURES).missing({0}) == set()


async def test_cancel_stops_a_rebuild_in_progress(redis: Redis, keys: RedisKeys) -> None:
    guard = EpochGuard(Writer.FEATURES, EpochMarker(redis, keys, Writer.FEATURES), 0.01)
    started = asyncio.Event()

    async def endless(partitions: frozenset[int]) -> bool:
        started.set()
        await asyncio.Event().wait()
        return True

    check = asyncio.create_task(guard.check(frozenset({0}), endless))
    await started.wait()
    assert await guard.details() == {"store": "rebuilding"}
    await guard.cancel()
    await check
    assert await EpochMarker(redis, keys, Writer.FEATURES).missing({0}) == {0}


async def test_a_pacer_spreads_units_at_its_rate_and_lets_the_first_batch_go_at_once() -> None:
    clock = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    pacer = Pacer(rate_per_s=1000.0, now=lambda: clock[0], sleep=sleep)
    for _ in range(5):
        await pacer.take(20)
    assert slept == pytest.approx([0.02] * 4)

    clock[0] += 10.0  # idle: no credit is saved up beyond the next batch
    await pacer.take(20)
    assert len(slept) == 4
