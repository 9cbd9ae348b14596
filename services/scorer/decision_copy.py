"""The Redis copy of the decision log, for lookups by id and by customer, and the consumer
of ``risk.decisions`` that writes it. Kafka is the record; the copy can always be rebuilt
from it.

The copy: ``RedisKeys.decision(id)`` holds the record as produced, and
``RedisKeys.customer_decisions(customer)`` indexes a customer's ids by time. Both expire
``copy_days`` after the decision; the topic keeps it ``decision_retention_days``.

The copier is a consumer group (``<prefix>riskstream-decision-copy``) committing after each
batch is written (at-least-once; writes are idempotent: a record is keyed by its id). The
copy carries an epoch marker (``RedisKeys.decision_copy_epoch``). When the marker is missing
(a flushed or replaced Redis) or changed (another instance found it missing), the copier
seeks its partitions back to the first record of the copy's retention and writes the copy
again, whatever offsets the group had committed. A record that is not a decision goes to
``events.dlq``; the copier goes on.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import orjson
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.common import metrics
from services.common.clock import Clock
from services.common.consuming import HandledOffsets, Record, run_consumer
from services.common.dead_letters import dead_letter
from services.common.kafka import LagReporter, ResilientProducer, make_consumer
from services.common.redis_keys import RedisKeys
from services.common.topics import Topic
from services.scorer.errors import StoreUnavailableError
from services.scorer.metrics import DECISION_COPIES
from services.scorer.settings import ScorerSettings

log = logging.getLogger(__name__)
_copies = metrics.cached_labels(DECISION_COPIES)

_COPY = """
local oldest = ARGV[1]
for i = 1, #KEYS / 2 do
  local record, index = KEYS[2 * i - 1], KEYS[2 * i]
  local at = 4 * i - 2
  local expires = ARGV[at + 1]
  redis.call('SET', record, ARGV[at], 'PXAT', expires)
  redis.call('ZADD', index, ARGV[at + 2], ARGV[at + 3])
  redis.call('PEXPIREAT', index, expires, 'GT')
  redis.call('PEXPIREAT', index, expires, 'NX')
  redis.call('ZREMRANGEBYSCORE', index, '-inf', oldest)
end
return #KEYS / 2
"""
"""Writes a batch of decisions in one command. KEYS: a (record key, customer index key)
pair per decision; ARGV: the oldest score an index keeps, then (record, expiry in epoch ms,
decided at in epoch ms, decision id) per decision. An index lives as long as its newest
decision (GT extends a deadline, NX sets the first) and older ids leave it. One script
instead of five pipelined commands per decision: the client packs one command and parses
one reply per batch, which is most of the copy's CPU in the scorer process."""


class RedisDecisionReader:
    """Reads the copy (the adapter behind ``GET /v1/decisions``)."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys

    async def get(self, decision_id: str) -> bytes | None:
        """The record's JSON, or None when the copy does not hold it; raises
        :class:`StoreUnavailableError` when Redis does not answer."""
        try:
            value = await self._redis.get(self._keys.decision(decision_id))
        except (RedisError, OSError) as error:
            raise StoreUnavailableError(f"redis: {type(error).__name__}") from error
        return value if isinstance(value, bytes) else None

    async def for_customer(self, customer_id: str, limit: int) -> list[bytes]:
        """The customer's latest ``limit`` records, newest first."""
        try:
            ids = await self._redis.zrevrange(
                self._keys.customer_decisions(customer_id), 0, limit - 1
            )
            if not ids:
                return []
            keys = [
                self._keys.decision(i.decode() if isinstance(i, bytes) else str(i)) for i in ids
            ]
            values = await self._redis.mget(keys)
        except (RedisError, OSError) as error:
            raise StoreUnavailableError(f"redis: {type(error).__name__}") from error
        return [value for value in values if isinstance(value, bytes)]


class DecisionCopier:
    """Keeps the Redis copy of ``risk.decisions`` (see the module docstring)."""

    def __init__(
        self,
        settings: ScorerSettings,
        redis: Redis,
        keys: RedisKeys,
        sink: ResilientProducer,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._keys = keys
        self._sink = sink
        self._clock = clock
        self._copy_for = timedelta(days=settings.decision_copy_days)
        self._topic = settings.topics(Topic.DECISIONS)
        self._dlq_topic = settings.topics(Topic.DLQ)
        self._group = settings.decision_copy_group_id
        self._epoch: bytes | None = None
        self._rebuild = False
        self._lag = LagReporter(self._group)
        self._copy = redis.register_script(_COPY)

    async def run(self) -> None:
        """Copies forever; reconnects after Kafka or Redis errors."""
        await run_consumer(
            "decision copier",
            lambda: make_consumer(
                self._settings,
                self._topic,
                group_id=self._group,
                max_poll_records=self._settings.decision_copy_batch_max,
            ),
            self._consume,
            max_delay_s=10.0,
        )

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        offsets = HandledOffsets(consumer, self._settings.kafka_commit_interval_ms / 1000)
        try:
            while True:
                await self._check_epoch()
                batches = await consumer.getmany(
                    timeout_ms=500, max_records=self._settings.decision_copy_batch_max
                )
                if self._rebuild and consumer.assignment():
                    offsets.discard()
                    await self._rewind(consumer)
                    continue
                records = [record for partition in batches.values() for record in partition]
                if records:
                    await self.copy(records)
                    offsets.handled(batches)
                await offsets.commit(due_only=bool(records))
                await self._lag.measure(consumer)
        finally:
            with contextlib.suppress(Exception):
                await offsets.commit(due_only=False)

    async def _check_epoch(self) -> None:
        """Notices a copy that is gone (no marker) or was restarted by another instance
        (another marker), and starts a new one when there is none."""
        marker = self._keys.decision_copy_epoch()
        epoch = await self._redis.get(marker)
        if epoch is None:
            await self._redis.set(marker, uuid.uuid4().hex.encode(), nx=True)
            epoch = await self._redis.get(marker)
            self._rebuild = True
            log.warning("decision copy marker missing; rebuilding the copy from risk.decisions")
        elif self._epoch is not None and epoch != self._epoch:
            self._rebuild = True
        self._epoch = epoch if isinstance(epoch, bytes) else None

    async def _rewind(self, consumer: AIOKafkaConsumer) -> None:
        """Seeks every assigned partition to the first record still within the copy's
        retention (the end when there is none)."""
        since_ms = int((self._clock.now() - self._copy_for).timestamp() * 1000)
        partitions = list(consumer.assignment())
        found = await consumer.offsets_for_times(dict.fromkeys(partitions, since_ms))
        ends = await consumer.end_offsets(partitions)
        for partition in partitions:
            offset = found.get(partition)
            consumer.seek(partition, offset.offset if offset is not None else ends[partition])
        self._rebuild = False

    async def copy(self, records: Sequence[Record]) -> None:
        """Writes the records' copies in one round trip; dead-letters those that are not
        decisions. Raises RedisError when Redis fails (the batch is then read again)."""
        now = self._clock.now()
        now_ms = int(now.timestamp() * 1000)
        keep_ms = int(self._copy_for.total_seconds() * 1000)
        keys: list[str] = []
        arguments: list[bytes | str | int] = [now_ms - keep_ms]
        letters: list[tuple[bytes | None, bytes]] = []
        for record in records:
            try:
                decision_id, customer_id, decided_ms = _identity(record.value)
            except ValueError as error:
                _copies("rejected").inc()
                metrics.DEAD_LETTERS.labels(record.topic, "schema_violation").inc()
                letter = dead_letter(
                    record,
                    service=self._settings.service_name,
                    reason="schema_violation",
                    detail=str(error),
                    now=now,
                )
                letters.append((record.key, letter.model_dump_json().encode()))
                continue
            expires_ms = decided_ms + keep_ms
            if expires_ms <= now_ms:
                _copies("expired").inc()
                continue
            keys += [self._keys.decision(decision_id), self._keys.customer_decisions(customer_id)]
            arguments += [record.value or b"", expires_ms, decided_ms, decision_id]
        copied = len(keys) // 2
        if copied:
            await self._copy(keys=keys, args=arguments)
        _copies("copied").inc(copied)
        if letters:
            await self._sink.send_all(self._dlq_topic, letters)


def _identity(value: bytes | None) -> tuple[str, str, int]:
    """``(decision_id, customer_id, decided_at in epoch ms)`` of a decision record;
    ValueError naming what is wrong otherwise."""
    try:
        document = orjson.loads(value or b"")
    except orjson.JSONDecodeError as error:
        raise ValueError(f"value is not JSON: {error}") from error
    if not isinstance(document, dict):
        raise ValueError("a decision record must be a JSON object")
    decision_id = document.get("decision_id")
    customer_id = document.get("customer_id")
    decided_at = document.get("decided_at")
    if not isinstance(decision_id, str) or not decision_id.isalnum() or len(decision_id) > 64:
        raise ValueError("decision_id: missing or not an id")
    if not isinstance(customer_id, str) or not 1 <= len(customer_id) <= 64:
        raise ValueError("customer_id: missing or not an id")
    try:
        instant = datetime.fromisoformat(str(decided_at))
    except ValueError as error:
        raise ValueError(f"decided_at: {error}") from error
    if instant.tzinfo is None:
        raise ValueError("decided_at: no time zone")
    return decision_id, customer_id, int(instant.timestamp() * 1000)
