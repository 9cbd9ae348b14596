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
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord

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


async def consume_batches(
    consumer: AIOKafkaConsumer,
    handle: BatchHandler,
    *,
    max_records: int,
    lag: LagReporter,
    retryable: tuple[type[Exception], ...] = (),
    retry_delay_s: float = 1.0,
) -> None:
    """Fetches batches and hands each to ``handle``; once it returns, commits the batch's
    offsets. When ``handle`` raises one of ``retryable`` (a dependency that is down),
    nothing is committed: the consumer seeks back to the batch's first offsets and tries
    it again after ``retry_delay_s``. Any other error propagates (see
    :func:`run_consumer`), and the uncommitted batch is read again by the next consumer."""
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
            await consumer.commit(
                {partition: fetched[-1].offset + 1 for partition, fetched in batches.items()}
            )
        await lag.measure(consumer)
