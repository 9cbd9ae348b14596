from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

from services.common.redis_keys import RedisKeys
from services.features.sinks import ProcessedBatch, StateFlusher
from tests.support.polling import wait_until_async


class FakeRedis:
    def __init__(self, failures: int = 0) -> None:
        self.data: dict[str, bytes] = {}
        self.failures_left = failures

    async def mset(self, mapping: dict[str, bytes]) -> bool:
        if self.failures_left:
            self.failures_left -= 1
            raise RedisConnectionError("down")
        self.data.update(mapping)
        return True


def recorder(log: list[str], name: str) -> Callable[[], Awaitable[Any]]:
    async def ack() -> None:
        log.append(name)

    return ack


async def test_states_reach_redis_before_offsets_are_acknowledged_in_order() -> None:
    redis = FakeRedis(failures=2)
    keys = RedisKeys("t")
    flusher = StateFlusher(redis, keys)  # type: ignore[arg-type]
    acks: list[str] = []
    await flusher.submit(ProcessedBatch({"c-1": b"s1"}, [], recorder(acks, "first")))
    await flusher.submit(ProcessedBatch({"c-1": b"s2", "c-2": b"t1"}, [], recorder(acks, "second")))
    await wait_until_async(lambda: len(acks) >= 2, timeout_s=2.0, interval_s=0.01)
    assert acks == ["first", "second"]
    assert redis.data == {keys.feature_state("c-1"): b"s2", keys.feature_state("c-2"): b"t1"}


async def test_rewritten_states_queue_behind_what_was_processed_before() -> None:
    redis = FakeRedis()
    keys = RedisKeys("t")
    flusher = StateFlusher(redis, keys)  # type: ignore[arg-type]
    acks: list[str] = []
    await flusher.submit(ProcessedBatch({"c-1": b"old"}, [], None))
    await flusher.submit_states({"c-1": b"rebuilt"})
    await flusher.submit(ProcessedBatch({"c-1": b"new"}, [], recorder(acks, "after")))
    await wait_until_async(lambda: len(acks) >= 1, timeout_s=2.0, interval_s=0.01)
    assert redis.data == {keys.feature_state("c-1"): b"new"}


async def test_a_failed_send_or_acknowledgement_does_not_stop_the_writer() -> None:
    redis = FakeRedis()
    keys = RedisKeys("t")
    flusher = StateFlusher(redis, keys)  # type: ignore[arg-type]
    acks: list[str] = []

    async def failing_send() -> None:
        raise RuntimeError("broker gone")

    async def failing_ack() -> None:
        raise RuntimeError("partition revoked")

    await flusher.submit(ProcessedBatch({"c-1": b"s1"}, [failing_send()], failing_ack))
    await flusher.submit(ProcessedBatch({"c-2": b"s2"}, [], recorder(acks, "second")))
    await wait_until_async(lambda: len(acks) >= 1, timeout_s=2.0, interval_s=0.01)
    assert acks == ["second"]
    assert redis.data == {keys.feature_state("c-1"): b"s1", keys.feature_state("c-2"): b"s2"}
