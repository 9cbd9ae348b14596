import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

from services.common.redis_keys import RedisKeys
from services.features.sinks import StateFlusher


class FakePipeline:
    def __init__(self, owner: "FakeRedis") -> None:
        self.owner = owner
        self.pending: dict[str, bytes] = {}

    async def __aenter__(self) -> "FakePipeline":
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def set(self, key: str, value: bytes) -> None:
        self.pending[key] = value

    async def execute(self) -> list[bool]:
        if self.owner.failures_left:
            self.owner.failures_left -= 1
            raise RedisConnectionError("down")
        self.owner.data.update(self.pending)
        return [True] * len(self.pending)


class FakeRedis:
    def __init__(self, failures: int = 0) -> None:
        self.data: dict[str, bytes] = {}
        self.failures_left = failures

    def pipeline(self, transaction: bool = False) -> FakePipeline:
        return FakePipeline(self)


def recorder(log: list[str], name: str) -> Callable[[], Awaitable[Any]]:
    async def ack() -> None:
        log.append(name)

    return ack


async def test_states_reach_redis_before_offsets_are_acknowledged_in_order() -> None:
    redis = FakeRedis(failures=2)
    keys = RedisKeys("t")
    flusher = StateFlusher(redis, keys, max_records=3, interval_s=10)  # type: ignore[arg-type]
    acks: list[str] = []
    flusher.add("c-1", b"s1", [], recorder(acks, "a"), now_s=0)
    flusher.add("c-1", b"s2", [], recorder(acks, "b"), now_s=0)
    flusher.add(None, None, [], recorder(acks, "dead-letter"), now_s=0)
    assert flusher.due(now_s=0)
    await flusher.submit()
    for _ in range(200):
        if acks:
            break
        await asyncio.sleep(0.01)
    assert acks == ["a", "b", "dead-letter"]
    assert redis.data == {keys.feature_state("c-1"): b"s2"}


async def test_a_batch_is_due_after_the_interval_even_when_small() -> None:
    flusher = StateFlusher(FakeRedis(), RedisKeys(), max_records=100, interval_s=0.01)  # type: ignore[arg-type]
    assert not flusher.due(now_s=5.0)
    flusher.add("c", b"s", [], recorder([], "x"), now_s=5.0)
    assert not flusher.due(now_s=5.005)
    assert flusher.due(now_s=5.02)


async def test_a_failed_send_or_acknowledgement_does_not_stop_the_writer() -> None:
    redis = FakeRedis()
    keys = RedisKeys("t")
    flusher = StateFlusher(redis, keys, max_records=1, interval_s=10)  # type: ignore[arg-type]
    acks: list[str] = []

    async def failing_send() -> None:
        raise RuntimeError("broker gone")

    async def failing_ack() -> None:
        raise RuntimeError("partition revoked")

    flusher.add("c-1", b"s1", [failing_send()], failing_ack, now_s=0)
    await flusher.submit()
    flusher.add("c-2", b"s2", [], recorder(acks, "second"), now_s=0)
    await flusher.submit()
    for _ in range(200):
        if acks:
            break
        await asyncio.sleep(0.01)
    assert acks == ["second"]
    assert redis.data == {keys.feature_state("c-1"): b"s1", keys.feature_state("c-2"): b"s2"}
