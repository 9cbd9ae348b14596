"""The decision log: every answer of the score API as a :class:`DecisionRecord` on
``risk.decisions``, written off the latency path.

A request only appends its decisions to an in-memory queue (:meth:`DecisionLogWriter.record`,
microseconds, never blocking). A background task takes them in batches of up to
``batch_max`` (small, since the score API shares the event loop), serialises them and
produces them (acks=all), keyed by customer. While Kafka does not acknowledge, batches go
to a bounded local :class:`~services.scorer.spool.Spool` instead, and from then on every
batch follows them there (a customer's decisions stay in order) until the spool has been
replayed to Kafka, oldest first. On a clean shutdown the
queue is produced, or spooled when Kafka is down, before the process exits; the next start
replays the spool.

Nothing is dropped silently: a decision that fits neither the queue (``queue_max``) nor the
spool (``spool_max_bytes``), or meets an unwritable spool, is counted in
``riskstream_decision_log_dropped_total{reason}`` and logged; an alert fires on any.
Delivery is at least once: a batch whose acknowledgement was lost is spooled and produced
again, and readers deduplicate by ``decision_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Protocol

import orjson

from schemas.decisions import DECISION_RECORD_VERSION
from schemas.features import FEATURE_SCHEMA
from services.common import metrics
from services.common.kafka import ProducerUnavailableError
from services.scorer.errors import SpoolError
from services.scorer.metrics import (
    DECISION_LOG_DROPPED,
    DECISION_LOG_PENDING,
    DECISION_LOG_RECORDS,
    DECISION_LOG_SPOOL_BYTES,
)
from services.scorer.ports import Decided
from services.scorer.spool import Spool

log = logging.getLogger(__name__)
_records = metrics.cached_labels(DECISION_LOG_RECORDS)

DROP_REASONS = ("queue_full", "spool_full", "spool_unwritable")
REPLAY_CHUNKS_PER_CYCLE = 20
"""Spool chunks replayed before the queue is looked at again (the queue keeps moving)."""


class RecordSink(Protocol):
    async def send_all(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        """Produces records in order and waits for every acknowledgement; raises
        :class:`ProducerUnavailableError` otherwise."""
        ...


def decision_json(decided: Decided) -> bytes:
    """The ``risk.decisions`` value of one decision (a :class:`DecisionRecord`)."""
    request = decided.request
    order = request.order
    return orjson.dumps(
        {
            "decision_id": decided.answer["decision_id"],
            "decided_at": decided.decided_at.isoformat(),
            "customer_id": request.customer_id,
            "request": {
                "customer_id": request.customer_id,
                "order": None
                if order is None
                else {
                    "amount": float(order.amount),
                    "currency": order.currency,
                    "payment_method": order.payment_method,
                },
            },
            "answer": decided.answer,
            "feature_schema_version": FEATURE_SCHEMA.version if decided.features else None,
            "features": decided.features,
            "account_status": decided.account_status,
            "caller": decided.caller.label,
            "request_id": decided.caller.request_id,
            "batch_size": decided.batch_size,
            "batch_index": decided.batch_index,
            "record_version": DECISION_RECORD_VERSION,
        }
    )


def _key_of(line: bytes) -> bytes:
    """The record key (customer id) of a spooled decision."""
    return str(orjson.loads(line)["customer_id"]).encode()


class DecisionLogWriter:
    """Queues decisions and produces them to ``topic`` through ``sink``, spooling while
    Kafka is down (see the module docstring). ``start`` opens the spool, ``run`` is the
    background task, ``close`` drains at shutdown."""

    def __init__(
        self,
        sink: RecordSink,
        topic: str,
        spool: Spool,
        *,
        batch_max: int = 100,
        linger_s: float = 0.05,
        queue_max: int = 100_000,
        retry_s: float = 2.0,
        shutdown_s: float = 10.0,
    ) -> None:
        self._sink = sink
        self._topic = topic
        self._spool = spool
        self._batch_max = batch_max
        self._linger_s = linger_s
        self._queue_max = queue_max
        self._retry_s = retry_s
        self._shutdown_s = shutdown_s
        self._pending: deque[Decided] = deque()
        self._wake = asyncio.Event()
        self._retry_at = 0.0
        """Monotonic time before which Kafka is not tried again after a failure."""
        for reason in DROP_REASONS:
            # At 0 from the start, so an alert's increase() sees the first drop.
            DECISION_LOG_DROPPED.labels(reason)

    async def start(self) -> None:
        self._spool.open()
        DECISION_LOG_SPOOL_BYTES.set(self._spool.size_bytes)
        if not self._spool.empty:
            log.warning(
                "decision log spool holds records of an earlier run; replaying",
                extra={"spool_bytes": self._spool.size_bytes},
            )

    def record(self, decisions: Sequence[Decided]) -> None:
        room = self._queue_max - len(self._pending)
        if len(decisions) > room:
            self._dropped("queue_full", len(decisions) - max(room, 0))
            decisions = decisions[: max(room, 0)]
        self._pending.extend(decisions)
        if len(self._pending) >= self._batch_max:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self) -> None:
        """Moves decisions out every ``linger_s`` (sooner when a batch is full), forever."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._linger_s)
            self._wake.clear()
            try:
                await self.flush()
            except SpoolError as error:
                log.error("decision log: spool failed", extra={"error": str(error)})

    async def flush(self) -> None:
        """One cycle: every queued decision to Kafka or the spool, then some of the spool
        to Kafka when it may be back."""
        while self._pending:
            batch = self._take()
            if self._spool.empty and self._may_try():
                try:
                    await self._produce(batch)
                except ProducerUnavailableError as error:
                    self._failed(error)
                except asyncio.CancelledError:
                    self._spill(batch)
                    raise
                else:
                    _records("produced").inc(len(batch))
                    continue
            self._spill(batch)
        if not self._spool.empty and self._may_try():
            await self._replay(REPLAY_CHUNKS_PER_CYCLE)
        DECISION_LOG_PENDING.set(len(self._pending))
        DECISION_LOG_SPOOL_BYTES.set(self._spool.size_bytes)

    async def close(self) -> None:
        """At shutdown: the queue to Kafka (or the spool), then as much of the spool as
        Kafka takes within ``shutdown_s``; what remains stays spooled for the next start."""
        self._retry_at = 0.0
        try:
            async with asyncio.timeout(self._shutdown_s):
                await self.flush()
                while not self._spool.empty and await self._replay(REPLAY_CHUNKS_PER_CYCLE):
                    pass
        except TimeoutError:
            log.warning("decision log: Kafka slow at shutdown; the rest stays spooled")
        while self._pending:
            self._spill(self._take())
        DECISION_LOG_SPOOL_BYTES.set(self._spool.size_bytes)
        self._spool.close()

    def _take(self) -> list[tuple[bytes, bytes]]:
        """The next batch as (key, value) records."""
        count = min(self._batch_max, len(self._pending))
        batch: list[tuple[bytes, bytes]] = []
        for _ in range(count):
            decided = self._pending.popleft()
            batch.append((decided.request.customer_id.encode(), decision_json(decided)))
        return batch

    def _may_try(self) -> bool:
        return time.monotonic() >= self._retry_at

    def _failed(self, error: Exception) -> None:
        self._retry_at = time.monotonic() + self._retry_s
        log.warning("decision log: Kafka unavailable, spooling", extra={"error": str(error)})

    async def _produce(self, records: list[tuple[bytes, bytes]]) -> None:
        await self._sink.send_all(self._topic, records)

    def _spill(self, records: list[tuple[bytes, bytes]]) -> None:
        lines = [value for _, value in records]
        try:
            written = self._spool.append(lines)
        except SpoolError as error:
            log.error("decision log: spool unwritable", extra={"error": str(error)})
            self._dropped("spool_unwritable", len(lines))
            return
        _records("spooled").inc(written)
        if written < len(lines):
            self._dropped("spool_full", len(lines) - written)

    async def _replay(self, chunks: int) -> bool:
        """Produces up to ``chunks`` chunks of the spool, oldest first; False when Kafka
        refused one (it stays spooled)."""
        for _ in range(chunks):
            chunk = self._spool.read(self._batch_max)
            if chunk is None:
                return True
            try:
                await self._produce([(_key_of(line), line) for line in chunk.lines])
            except ProducerUnavailableError as error:
                self._failed(error)
                return False
            self._spool.consume(chunk)
            _records("replayed").inc(len(chunk.lines))
        return True

    def _dropped(self, reason: str, count: int) -> None:
        DECISION_LOG_DROPPED.labels(reason).inc(count)
        log.error("decision log: decisions dropped", extra={"reason": reason, "decisions": count})
