"""The Redis adapter of :class:`services.warning.usecase.StateStore`.

Two keys per customer under the customer's hash tag: the contract view
(``RedisKeys.risk_state``: ``CustomerRiskState`` JSON, which the scorer reads) and the
warning service's own richer ``WarningState`` (``...:warning``). Both are written in one
MULTI/EXEC transaction, so a reader never sees one without the other, together with the
review-case index derived from the states (case id to customer, and the open cases by
age), so the index never disagrees with the states it was derived from.

Redis holds a copy: the record is ``warning.state`` in Kafka. Every read also reads the
service's epoch key in the same ``MGET``; when it does not cover every partition, Redis
lost data (or has not been rebuilt yet) and a missing state cannot be told from a lost
one, so the read fails with :class:`StoreRebuildingError` instead of answering "never
seen".
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from schemas.codecs import model_json
from services.common.redis_client import as_bytes
from services.common.redis_keys import RedisKeys, Writer, epoch_covers
from services.common.tiers import ServiceTiers
from services.warning.core import WarningState, risk_state_view
from services.warning.errors import StoreRebuildingError, StoreUnavailableError
from services.warning.metrics import REDIS_ERRORS


class RedisStateStore:
    def __init__(
        self, redis: Redis, keys: RedisKeys, partitions: int, tiers: ServiceTiers | None = None
    ) -> None:
        """``partitions``: the partition count of ``risk.scores`` (and ``warning.state``),
        which the epoch key must cover; ``tiers`` give the risk state its service tier."""
        self._tiers = tiers
        self._redis = redis
        self._keys = keys
        self._partitions = partitions
        self._epoch = keys.epoch(Writer.WARNING)

    async def load(self, customer_ids: Sequence[str]) -> dict[str, bytes]:
        keys = [self._epoch, *(self._keys.warning_state(c) for c in customer_ids)]
        try:
            epoch, *values = await self._redis.mget(keys)
        except (RedisError, OSError) as error:
            REDIS_ERRORS.labels("load").inc()
            raise StoreUnavailableError(f"redis: {type(error).__name__}: {error}") from error
        if not epoch_covers(as_bytes(epoch), self._partitions):
            raise StoreRebuildingError("warning state is being rebuilt from warning.state")
        return {
            customer_id: value
            for customer_id, stored in zip(customer_ids, values, strict=True)
            if (value := as_bytes(stored)) is not None
        }

    async def save(self, states: Sequence[WarningState]) -> None:
        if not states:
            return
        mapping: dict[str, bytes] = {}
        owners: dict[FieldT, EncodableT] = {}
        waiting: dict[str, float] = {}
        closed: list[str] = []
        for state in states:
            mapping[self._keys.warning_state(state.customer_id)] = state.to_json()
            mapping[self._keys.risk_state(state.customer_id)] = model_json(
                risk_state_view(state, self._tiers)
            )
            for case in state.cases:
                owners[case.case_id] = state.customer_id
                if case.is_open:
                    waiting[case.case_id] = case.opened_at.timestamp()
                else:
                    closed.append(case.case_id)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.mset(mapping)
                if owners:
                    pipe.hset(self._keys.case_owners(), mapping=owners)
                if waiting:
                    pipe.zadd(self._keys.open_cases(), waiting)
                if closed:
                    pipe.zrem(self._keys.open_cases(), *closed)
                await pipe.execute()
        except (RedisError, OSError) as error:
            REDIS_ERRORS.labels("save").inc()
            raise StoreUnavailableError(f"redis: {type(error).__name__}: {error}") from error

    async def case_owners(self, case_ids: Sequence[str]) -> dict[str, str]:
        if not case_ids:
            return {}
        try:
            values = await self._redis.hmget(self._keys.case_owners(), list(case_ids))
        except (RedisError, OSError) as error:
            REDIS_ERRORS.labels("cases").inc()
            raise StoreUnavailableError(f"redis: {type(error).__name__}: {error}") from error
        return {
            case_id: value.decode() if isinstance(value, bytes) else str(value)
            for case_id, value in zip(case_ids, values, strict=True)
            if value is not None
        }

    async def open_case_ids(self, limit: int) -> list[str]:
        try:
            values = await self._redis.zrange(self._keys.open_cases(), 0, max(limit, 1) - 1)
        except (RedisError, OSError) as error:
            REDIS_ERRORS.labels("cases").inc()
            raise StoreUnavailableError(f"redis: {type(error).__name__}: {error}") from error
        return [value.decode() if isinstance(value, bytes) else str(value) for value in values]

    async def queue_stats(self) -> tuple[int, float | None]:
        """How many cases wait and when the oldest opened (epoch seconds, None: none)."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zcard(self._keys.open_cases())
                pipe.zrange(self._keys.open_cases(), 0, 0, withscores=True)
                count, oldest = await pipe.execute()
        except (RedisError, OSError) as error:
            REDIS_ERRORS.labels("cases").inc()
            raise StoreUnavailableError(f"redis: {type(error).__name__}: {error}") from error
        return int(count), (float(oldest[0][1]) if oldest else None)

    async def decision_of(self, customer_id: str, decision_id: str) -> bool:
        """True when the score service's copy of the decision log
        (``RedisKeys.decision``) holds ``decision_id`` as a decision about this customer
        (an appeal may name it). Only the record's customer is read."""
        try:
            stored = as_bytes(await self._redis.get(self._keys.decision(decision_id)))
        except (RedisError, OSError) as error:
            REDIS_ERRORS.labels("decisions").inc()
            raise StoreUnavailableError(f"redis: {type(error).__name__}: {error}") from error
        if stored is None:
            return False
        try:
            record = orjson.loads(stored)
        except orjson.JSONDecodeError:
            return False
        return isinstance(record, dict) and record.get("customer_id") == customer_id

    async def ready(self) -> bool:
        """True when Redis answers PING within a second."""
        try:
            return bool(await asyncio.wait_for(self._redis.ping(), 1.0))
        except (RedisError, OSError, TimeoutError):
            return False
