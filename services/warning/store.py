"""The Redis adapter of :class:`services.warning.usecase.StateStore`.

Two keys per customer under the customer's hash tag: the contract view
(``RedisKeys.risk_state``: ``CustomerRiskState`` JSON, which the scorer reads) and the
warning service's own richer ``WarningState`` (``...:warning``). Both are written in one
MULTI/EXEC transaction, so a reader never sees one without the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.common.redis_keys import RedisKeys
from services.warning.core import WarningState, risk_state_view
from services.warning.errors import StoreUnavailableError
from services.warning.metrics import REDIS_ERRORS


class RedisStateStore:
    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys

    async def load(self, customer_ids: Sequence[str]) -> dict[str, bytes]:
        if not customer_ids:
            return {}
        try:
            values = await self._redis.mget(
                [self._keys.warning_state(customer_id) for customer_id in customer_ids]
            )
        except (RedisError, OSError) as error:
            REDIS_ERRORS.labels("load").inc()
            raise StoreUnavailableError(f"redis: {type(error).__name__}: {error}") from error
        return {
            customer_id: value.encode() if isinstance(value, str) else value
            for customer_id, value in zip(customer_ids, values, strict=True)
            if value is not None
        }

    async def save(self, states: Sequence[WarningState]) -> None:
        if not states:
            return
        mapping: dict[str, bytes] = {}
        for state in states:
            mapping[self._keys.warning_state(state.customer_id)] = state.to_json()
            mapping[self._keys.risk_state(state.customer_id)] = (
                risk_state_view(state).model_dump_json().encode()
            )
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.mset(mapping)
                await pipe.execute()
        except (RedisError, OSError) as error:
            REDIS_ERRORS.labels("save").inc()
            raise StoreUnavailableError(f"redis: {type(error).__name__}: {error}") from error

    async def ready(self) -> bool:
        """True when Redis answers PING within a second."""
        try:
            return bool(await asyncio.wait_for(self._redis.ping(), 1.0))
        except (RedisError, OSError, TimeoutError):
            return False
