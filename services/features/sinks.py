"""Where processed records go: customer state to Redis (for the score API), feature
updates and dead letters to Kafka. Batched: one Redis pipeline per batch, and a record's
offset is acknowledged only once its state is in Redis and its outputs are acknowledged by
Kafka (at-least-once end to end)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Histogram
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.common.metrics import LATENCY_BUCKETS_S
from services.common.redis_keys import RedisKeys

log = logging.getLogger(__name__)

REDIS_WRITE_ERRORS = Counter(
    "riskstream_features_redis_errors_total",
    "Failed pipelined writes of customer state to Redis (the batch is retried).",
)
OUTPUT_FAILURES = Counter(
    "riskstream_features_output_failures_total",
    "Feature updates, dead letters or acknowledgements that failed after processing.",
)
FLUSH_SECONDS = Histogram(
    "riskstream_features_flush_duration_seconds",
    "Time to write one batch of customer states to Redis and await its Kafka sends.",
    buckets=LATENCY_BUCKETS_S,
)


@dataclass
class PendingBatch:
    """Outputs of records processed since the last flush, in arrival order."""

    states: dict[str, bytes] = field(default_factory=dict)
    sends: list[Awaitable[Any]] = field(default_factory=list)
    acks: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)
    started_at: float | None = None

    def __len__(self) -> int:
        return len(self.acks)


class StateFlusher:
    """Collects outputs and flushes them behind the stream: latest state per customer into
    Redis in one pipeline, then every pending Kafka send awaited, then every offset
    acknowledged in arrival order. Batches are written by one background task, in order,
    so processing goes on while a batch is in flight; at most ``max_in_flight`` batches
    wait before the stream is held back. A Redis failure keeps the batch and retries with
    back-off, so no offset is acknowledged for a state Redis does not have. (On a
    rebalance faust waits for every in-flight record to be acknowledged before it gives the
    partitions away, so a revoked worker's late write cannot overwrite the new owner's.)"""

    def __init__(
        self,
        redis: Redis,
        keys: RedisKeys,
        max_records: int,
        interval_s: float,
        max_in_flight: int = 4,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._max_records = max_records
        self._interval_s = interval_s
        self._batch = PendingBatch()
        self._queue: asyncio.Queue[PendingBatch] = asyncio.Queue(maxsize=max_in_flight)
        self._writer: asyncio.Task[None] | None = None

    def add(
        self,
        customer_id: str | None,
        state: bytes | None,
        sends: list[Awaitable[Any]],
        ack: Callable[[], Awaitable[Any]],
        now_s: float,
    ) -> None:
        if customer_id is not None and state is not None:
            self._batch.states[customer_id] = state
        self._batch.sends.extend(sends)
        self._batch.acks.append(ack)
        if self._batch.started_at is None:
            self._batch.started_at = now_s

    def due(self, now_s: float) -> bool:
        started = self._batch.started_at
        return len(self._batch) >= self._max_records or (
            started is not None and now_s - started >= self._interval_s
        )

    async def submit(self) -> None:
        """Hands the pending batch to the writer; waits only while ``max_in_flight``
        batches are already queued (back-pressure on the stream)."""
        if not len(self._batch):
            return
        batch, self._batch = self._batch, PendingBatch()
        await self._enqueue(batch)

    async def submit_states(self, states: dict[str, bytes]) -> None:
        """Queues states to rewrite (no offsets to acknowledge) behind everything already
        processed: the single in-order writer then never lets them overwrite a newer state
        of a record processed after they were read."""
        await self.submit()
        if states:
            await self._enqueue(PendingBatch(states=dict(states)))

    async def _enqueue(self, batch: PendingBatch) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches())
        await self._queue.put(batch)

    async def _write_batches(self) -> None:
        """The single writer. It must outlive any failure: a dead writer would leave the
        stream (and faust's rebalance, which waits for acknowledgements) blocked for good."""
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._queue.get()
            try:
                started = loop.time()
                await self._write_states(batch.states)
                for send in batch.sends:
                    await self._settle(send)
                for ack in batch.acks:
                    await self._settle(ack())
                FLUSH_SECONDS.observe(loop.time() - started)
            finally:
                self._queue.task_done()

    @staticmethod
    async def _settle(step: Awaitable[Any]) -> None:
        """Awaits one send or acknowledgement; a failure is counted and logged, not raised.

        A failed send of a feature update or dead letter loses that derived record (the
        customer's state is in the table and in Redis already); a failed acknowledgement
        only means the record is read again after the next rebalance or restart.
        """
        try:
            await step
        except Exception:
            OUTPUT_FAILURES.inc()
            log.exception("a feature output could not be completed")

    async def _write_states(self, states: dict[str, bytes]) -> None:
        if not states:
            return
        delay_s = 0.05
        while True:
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for customer_id, state in states.items():
                        pipe.set(self._keys.feature_state(customer_id), state)
                    await pipe.execute()
                return
            except (RedisError, OSError) as error:
                REDIS_WRITE_ERRORS.inc()
                log.warning("redis write failed, retrying", extra={"error": str(error)})
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 2.0)
