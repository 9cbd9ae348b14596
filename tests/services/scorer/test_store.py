"""The Redis adapter of the score API's store, on a fake client: one MGET reads the epoch
keys and, per customer, the feature state, the risk state and the precomputed vector."""

from __future__ import annotations

from services.common.redis_keys import RedisKeys, Writer, epoch_bits
from services.scorer.ports import StoredCustomer
from services.scorer.store import RedisFeatureStore


class FakeRedis:
    def __init__(self, data: dict[str, bytes]) -> None:
        self.data = data
        self.commands: list[list[str]] = []

    async def mget(self, keys: list[str]) -> list[bytes | None]:
        self.commands.append(keys)
        return [self.data.get(key) for key in keys]


async def test_one_mget_reads_epochs_states_risks_and_vectors_in_order() -> None:
    keys = RedisKeys("t")
    complete = epoch_bits(range(4))
    redis = FakeRedis(
        {
            keys.epoch(Writer.FEATURES): complete,
            keys.epoch(Writer.WARNING): complete,
            keys.feature_state("c1"): b"state-1",
            keys.feature_vector("c1"): b"vector-1",
            keys.risk_state("c2"): b"risk-2",
            keys.feature_vector("c2"): b"",
        }
    )
    store = RedisFeatureStore(redis, keys, partitions=4)  # type: ignore[arg-type]

    read = await store.fetch(["c1", "c2", "c3"])

    assert len(redis.commands) == 1
    assert read.complete
    assert read.customers == [
        StoredCustomer(b"state-1", None, b"vector-1"),
        StoredCustomer(None, b"risk-2", b""),
        StoredCustomer(None, None, None),
    ]
