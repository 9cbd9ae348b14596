"""The Redis adapter of :class:`services.scorer.ports.FeatureStore`: one ``MGET`` per
request reads both writers' epoch keys and every customer's feature state, precomputed
feature vector and risk state.

One command, not a pipeline: Redis runs a command whole, so the epoch keys and the
customers' keys are one snapshot. A flush between two commands of a pipeline could let a
request see the epoch keys of the old key space and the empty customer keys of the new
one, and approve a lost customer as a new one. The command spans several hash slots (the
epoch keys, and one slot per customer), so the store is a single Redis node or a proxy in
front of one, as the warning service's reads and writes already require.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.common.redis_client import as_bytes
from services.common.redis_keys import RedisKeys, Writer, epoch_covers
from services.scorer.errors import StoreUnavailableError
from services.scorer.metrics import REDIS_ERRORS
from services.scorer.ports import StoredCustomer, StoreRead

WRITERS = (Writer.FEATURES, Writer.WARNING)
"""The writers whose keys a score reads; both must be complete."""


class RedisFeatureStore:
    def __init__(self, redis: Redis, keys: RedisKeys, partitions: int) -> None:
        """``partitions``: the event topics' partition count, which every writer's epoch
        key must cover."""
        self._redis = redis
        self._keys = keys
        self._partitions = partitions
        self._epochs = [keys.epoch(writer) for writer in WRITERS]

    async def fetch(self, customer_ids: Sequence[str]) -> StoreRead:
        keys = list(self._epochs)
        for customer_id in customer_ids:
            keys.append(self._keys.feature_state(customer_id))
            keys.append(self._keys.risk_state(customer_id))
            keys.append(self._keys.feature_vector(customer_id))
        try:
            values = await self._redis.mget(keys)
        except (RedisError, OSError) as error:
            REDIS_ERRORS.inc()
            raise StoreUnavailableError(f"redis: {type(error).__name__}: {error}") from error
        epochs = len(self._epochs)
        return StoreRead(
            complete=self._complete(values[:epochs]),
            customers=[
                StoredCustomer(
                    as_bytes(values[i]), as_bytes(values[i + 1]), as_bytes(values[i + 2])
                )
                for i in range(epochs, len(values), 3)
            ],
        )

    def _complete(self, epochs: Sequence[bytes | str | None]) -> bool:
        return all(epoch_covers(as_bytes(value), self._partitions) for value in epochs)

    async def ready(self) -> bool:
        """True when Redis answers PING within a second."""
        try:
            return bool(await asyncio.wait_for(self._redis.ping(), 1.0))
        except (RedisError, OSError, TimeoutError):
            return False

    async def completeness(self) -> dict[str, str]:
        """``{"store": "complete"}`` when both writers' epoch keys are whole,
        ``"rebuilding"`` when not, ``"unknown"`` when Redis does not answer (for /ready)."""
        try:
            values = await asyncio.wait_for(self._redis.mget(self._epochs), 1.0)
        except (RedisError, OSError, TimeoutError):
            return {"store": "unknown"}
        return {"store": "complete" if self._complete(values) else "rebuilding"}
