from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

from services.common.redis_keys import RedisKeys
from services.features.sinks import ProcessedBatch, Rewrite, StateFlusher
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
    assert redis.data == {
        keys.feature_state("c-1"): b"s2",
        keys.feature_vector("c-1"): b"",
        keys.feature_state("c-2"): b"t1",
        keys.feature_vector("c-2"): b"",
    }


async def test_a_rewrite_reads_the_table_when_written_so_it_never_undoes_a_newer_state() -> None:
    redis = FakeRedis()
    keys = RedisKeys("t")
    flusher = StateFlusher(redis, keys)  # type: ignore[arg-type]
    table = {"c-1": b"old", "c-2": b"t1"}
    read: list[dict[str, bytes]] = []

    def read_states(customers: Sequence[str]) -> dict[str, bytes]:
        read.append({c: table[c] for c in customers if c in table})
        return read[-1]

    acks: list[str] = []
    await flusher.submit(Rewrite(["c-1", "c-2", "c-3"], read_states))
    # A record processed after the rewrite was queued, before the writer got to it.
    table["c-1"] = b"new"
    await flusher.submit(ProcessedBatch({"c-1": b"new"}, [], recorder(acks, "after")))
    await wait_until_async(lambda: len(acks) >= 1, timeout_s=2.0, interval_s=0.01)
    assert read == [{"c-1": b"new", "c-2": b"t1"}]
    assert redis.data == {
        keys.feature_state("c-1"): b"new",
        keys.feature_vector("c-1"): b"",
        keys.feature_state("c-2"): b"t1",
        keys.feature_vector("c-2"): b"",
    }


async def test_a_barrier_returns_once_everything_before_it_is_written() -> None:
    redis = FakeRedis(failures=3)
    keys = RedisKeys("t")
    flusher = StateFlusher(redis, keys)  # type: ignore[arg-type]
    await flusher.submit(ProcessedBatch({"c-1": b"s1"}, [], None))
    await flusher.submit(Rewrite(["c-2"], lambda customers: dict.fromkeys(customers, b"t1")))
    await flusher.barrier()
    assert redis.data == {
        keys.feature_state("c-1"): b"s1",
        keys.feature_vector("c-1"): b"",
        keys.feature_state("c-2"): b"t1",
        keys.feature_vector("c-2"): b"",
    }


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
    assert redis.data == {
        keys.feature_state("c-1"): b"s1",
        keys.feature_vector("c-1"): b"",
        keys.feature_state("c-2"): b"s2",
        keys.feature_vector("c-2"): b"",
    }


async def test_a_vector_is_written_with_its_state_and_a_rewrite_clears_it() -> None:
    redis = FakeRedis()
    keys = RedisKeys("t")
    flusher = StateFlusher(redis, keys)  # type: ignore[arg-type]
    await flusher.submit(ProcessedBatch({"c-1": b"s1", "c-2": b"t1"}, vectors={"c-1": b"v1"}))
    await flusher.barrier()
    assert redis.data[keys.feature_vector("c-1")] == b"v1"
    assert redis.data[keys.feature_vector("c-2")] == b""
    # A rebuilt state comes without a vector: the one of an older state must not stay.
    await flusher.submit(Rewrite(["c-1"], lambda customers: dict.fromkeys(customers, b"s0")))
    await flusher.barrier()
    assert redis.data[keys.feature_state("c-1")] == b"s0"
    assert redis.data[keys.feature_vector("c-1")] == b""
