"""Where processed records go: customer state and its precomputed feature vector to Redis
(for the score API), feature updates and dead letters to Kafka. Per batch: one Redis
write, and the batch's offsets are acknowledged only once its states are in Redis and its
outputs are acknowledged by Kafka (at-least-once end to end). A rebuild's rewrites go
through the same in-order writer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Histogram
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.common.metrics import LATENCY_BUCKETS_S, REDIS_REBUILT_KEYS
from services.common.redis_keys import RedisKeys, Writer

log = logging.getLogger(__name__)

REDIS_WRITE_ERRORS = Counter(
    "riskstream_features_redis_errors_total",
    "Failed writes of a batch's customer states to Redis (the batch is retried).",
)
OUTPUT_FAILURES = Counter(
    "riskstream_features_output_failures_total",
    "Feature updates, dead letters or acknowledgements that failed after processing.",
)
_rebuilt_keys = REDIS_REBUILT_KEYS.labels(Writer.FEATURES.value)
FLUSH_SECONDS = Histogram(
    "riskstream_features_flush_duration_seconds",
    "Time to write one batch of customer states to Redis and await its Kafka sends.",
    buckets=LATENCY_BUCKETS_S,
)


StateReader = Callable[[Sequence[str]], Mapping[str, bytes]]
"""The current states of some customers, from the worker's table (absent: none)."""


@dataclass(frozen=True, slots=True)
class ProcessedBatch:
    """What a processed batch of records leaves to finish: the latest state of every
    customer it touched (for Redis), the Kafka sends of its outputs, the acknowledgement
    of its offsets (None when there are no offsets to acknowledge), and the feature vectors
    precomputed from the states (``FeatureVector.to_bytes``; a customer without one gets
    an empty vector, which the score API reads as "compute from the state")."""

    states: Mapping[str, bytes]
    sends: Sequence[Awaitable[Any]] = ()
    ack: Callable[[], Awaitable[Any]] | None = None
    vectors: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rewrite:
    """Customers whose states are rewritten to Redis from the table (a rebuild). The states
    are read when the writer gets to them, not when queued: by then every batch queued
    before has been written, so what is read is at least as new as anything in Redis, and
    every batch queued after is newer still."""

    customers: Sequence[str]
    read: StateReader


class StateFlusher:
    """Finishes processed batches behind the stream, in order: the batch's states into
    Redis in one write, then every Kafka send awaited, then the offsets acknowledged.
    One background task writes, so processing goes on while a batch is in flight; at most
    ``max_in_flight`` batches wait before the stream is held back. A Redis failure keeps
    the batch and retries with back-off, so no offset is acknowledged for a state Redis
    does not have. (On a rebalance faust waits for every in-flight record to be
    acknowledged before it gives the partitions away, so a revoked worker's late write
    cannot overwrite the new owner's.)"""

    def __init__(self, redis: Redis, keys: RedisKeys, max_in_flight: int = 4) -> None:
        self._redis = redis
        self._keys = keys
        self._queue: asyncio.Queue[ProcessedBatch | Rewrite] = asyncio.Queue(maxsize=max_in_flight)
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, batch: ProcessedBatch | Rewrite) -> None:
        """Queues a batch behind those already submitted; waits only while
        ``max_in_flight`` batches are queued (back-pressure on the stream)."""
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches())
        await self._queue.put(batch)

    async def barrier(self) -> None:
        """Returns once everything submitted before the call is written."""
        written = asyncio.Event()

        async def passed() -> None:
            written.set()

        await self.submit(ProcessedBatch({}, ack=passed))
        await written.wait()

    async def _write_batches(self) -> None:
        """The single writer. It must outlive any failure: a dead writer would leave the
        stream (and faust's rebalance, which waits for acknowledgements) blocked for good."""
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._queue.get()
            try:
                if isinstance(batch, Rewrite):
                    states = batch.read(batch.customers)
                    # No vectors: the score API computes from a rebuilt state until the
                    # customer's next event brings one.
                    await self._write_states(states, {})
                    _rebuilt_keys.inc(len(states))
                    continue
                started = loop.time()
                await self._write_states(batch.states, batch.vectors)
                for send in batch.sends:
                    await self._settle(send)
                if batch.ack is not None:
                    await self._settle(batch.ack())
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

    async def _write_states(
        self, states: Mapping[str, bytes], vectors: Mapping[str, bytes]
    ) -> None:
        """Writes each state with its vector (empty when none is given) in one ``MSET``: a
        vector never outlives the state it was made of."""
        if not states:
            return
        written: dict[str, bytes] = {}
        for customer, state in states.items():
            written[self._keys.feature_state(customer)] = state
            written[self._keys.feature_vector(customer)] = vectors.get(customer, b"")
        delay_s = 0.05
        while True:
            try:
                # One MSET: a command per state costs far more client time than the write.
                await self._redis.mset(written)
                return
            except (RedisError, OSError) as error:
                REDIS_WRITE_ERRORS.inc()
                log.warning("redis write failed, retrying", extra={"error": str(error)})
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 2.0)
