"""The consume loops of the platform's aiokafka consumers (the stream scorer, the warning
service, the model-control follower), written once.

:func:`run_consumer` keeps a consumer running for the life of the process: whatever breaks
it (Kafka unreachable, a rebalance gone wrong, a bug in one batch), it is stopped, logged
and built again after a delay. :func:`consume_batches` is the at-least-once batch loop:
fetch, handle, and commit a batch's offsets only after its handler returned, so every
effect of a record is acknowledged before the record counts as read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.common.kafka import LagReporter

log = logging.getLogger(__name__)

Record: TypeAlias = ConsumerRecord[bytes, bytes]
BatchHandler = Callable[[Sequence[Record]], Awaitable[None]]


async def run_consumer(
    name: str,
    build: Callable[[], AIOKafkaConsumer],
    consume: Callable[[AIOKafkaConsumer], Awaitable[None]],
    *,
    delay_s: float = 1.0,
    max_delay_s: float | None = None,
    on_consumer: Callable[[AIOKafkaConsumer | None], None] | None = None,
) -> None:
    """Starts a consumer from ``build`` and runs ``consume`` on it, forever. When either
    raises (anything but cancellation), the consumer is stopped and, after ``delay_s``, a
    new one is built; with ``max_delay_s`` the delay doubles after each failure up to it.
    ``on_consumer`` is told the running consumer, and None once it is stopped."""
    delay = delay_s
    while True:
        consumer = build()
        try:
            await consumer.start()
            if on_consumer is not None:
                on_consumer(consumer)
            await consume(consumer)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning(
                "consumer interrupted, restarting",
                extra={"consumer": name, "error": repr(error)},
            )
        finally:
            if on_consumer is not None:
                on_consumer(None)
            with contextlib.suppress(Exception):
                await consumer.stop()
        await asyncio.sleep(delay)
        if max_delay_s is not None:
            delay = min(delay * 2, max_delay_s)


class HandledOffsets:
    """Offsets of handled batches not committed yet, committed at most every
    ``interval_s`` (a commit is a write on the broker): a record handled but not committed
    is read again only after a crash or a rebalance, which at-least-once allows."""

    def __init__(self, consumer: AIOKafkaConsumer, interval_s: float) -> None:
        self._consumer = consumer
        self._interval_s = interval_s
        self._pending: dict[TopicPartition, int] = {}
        self._committed_at = asyncio.get_running_loop().time()

    def handled(self, batches: Mapping[TopicPartition, Sequence[Record]]) -> None:
        for partition, fetched in batches.items():
            self._pending[partition] = fetched[-1].offset + 1

    def discard(self) -> None:
        """Forgets the pending offsets (the consumer was sought back before them)."""
        self._pending.clear()

    async def commit(self, *, due_only: bool) -> None:
        """Commits the pending offsets of the partitions still assigned; with ``due_only``,
        only once ``interval_s`` has passed since the last commit."""
        now = asyncio.get_running_loop().time()
        if not self._pending or (due_only and now - self._committed_at < self._interval_s):
            return
        assigned = self._consumer.assignment()
        offsets = {tp: offset for tp, offset in self._pending.items() if tp in assigned}
        self._pending.clear()
        self._committed_at = now
        if offsets:
            await self._consumer.commit(offsets)


async def consume_batches(
    consumer: AIOKafkaConsumer,
    handle: BatchHandler,
    *,
    max_records: int,
    lag: LagReporter,
    retryable: tuple[type[Exception], ...] = (),
    retry_delay_s: float = 1.0,
    commit_interval_s: float = 0.0,
) -> None:
    """Fetches batches and hands each to ``handle``; once it returns, the batch's offsets
    may be committed: at most every ``commit_interval_s``, whenever a fetch finds nothing
    new, and when the loop ends. When ``handle`` raises one of ``retryable`` (a dependency
    that is down), nothing of the batch is committed: the consumer seeks back to the
    batch's first offsets and tries it again after ``retry_delay_s``. Any other error
    propagates (see :func:`run_consumer`), and the uncommitted batch is read again by the
    next consumer."""
    offsets = HandledOffsets(consumer, commit_interval_s)
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=max_records)
            records = [record for partition in batches.values() for record in partition]
            if records:
                try:
                    await handle(records)
                except retryable as error:
                    log.warning(
                        "batch not applied; retrying from its first offsets",
                        extra={"error": str(error), "records": len(records)},
                    )
                    for partition, fetched in batches.items():
                        consumer.seek(partition, fetched[0].offset)
                    await asyncio.sleep(retry_delay_s)
                    continue
                offsets.handled(batches)
            await offsets.commit(due_only=bool(records))
            await lag.measure(consumer)
    finally:
        # Stopping (or failing on a later batch): what was handled counts as read.
        with contextlib.suppress(Exception):
            await offsets.commit(due_only=False)
