"""The Redis adapter of :class:`services.scorer.ports.FeatureStore`: one ``MGET`` per
request reads every customer's feature state and risk state (the keys of one customer share
a hash tag, see :class:`services.common.redis_keys.RedisKeys`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.common.redis_keys import RedisKeys
from services.scorer.errors import StoreUnavailableError
from services.scorer.metrics import REDIS_ERRORS
from services.scorer.ports import StoredCustomer


class RedisFeatureStore:
    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys

    async def fetch(self, customer_ids: Sequence[str]) -> list[StoredCustomer]:
        keys: list[str] = []
        for customer_id in customer_ids:
            keys.append(self._keys.feature_state(customer_id))
            keys.append(self._keys.risk_state(customer_id))
        try:
            values = await self._redis.mget(keys)
        except (RedisError, OSError) as error:
            REDIS_ERRORS.inc()
            raise StoreUnavailableError(f"redis: {type(error).__name__}: {error}") from error
        return [
            StoredCustomer(_bytes(values[i]), _bytes(values[i + 1]))
            for i in range(0, len(values), 2)
        ]

    async def ready(self) -> bool:
        """True when Redis answers PING within a second."""
        try:
            return bool(await asyncio.wait_for(self._redis.ping(), 1.0))
        except (RedisError, OSError, TimeoutError):
            return False


def _bytes(value: bytes | str | None) -> bytes | None:
    """The client is built without ``decode_responses``, so values are bytes already."""
    return value.encode() if isinstance(value, str) else value
