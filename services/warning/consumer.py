"""The ``risk.scores`` consumer: each fetched batch is judged by :class:`WarningDesk`, its
rejects are dead-lettered, and only then are its offsets committed (at-least-once).

A customer's scores are keyed by customer id, so they sit on one partition and arrive in
order; a batch keeps that order. When Kafka or Redis fails mid-batch, nothing is committed:
the consumer seeks back to the batch's first offsets and tries again, and the use case's
order of effects makes the retry yield the same action ids. A record that cannot be judged
goes to ``events.dlq`` with its topic, partition, offset and reason; the consumer never
stops for one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from pydantic import ValidationError

from schemas.records import DeadLetterRecord
from schemas.scores import ScoreRecord
from services.common.clock import Clock
from services.common.consuming import Record, consume_batches, run_consumer
from services.common.dead_letters import dead_letter
from services.common.kafka import LagReporter, make_consumer
from services.common.metrics import EVENT_AGE
from services.common.topics import Topic
from services.warning.errors import PublishUnavailableError, StoreUnavailableError
from services.warning.metrics import STAGE
from services.warning.settings import WarningSettings
from services.warning.usecase import WarningDesk

log = logging.getLogger(__name__)

RETRY_DELAY_S = 1.0
_event_age = EVENT_AGE.labels(STAGE)


class DeadLetterSink(Protocol):
    async def dead_letters(self, letters: Sequence[DeadLetterRecord]) -> None:
        """Returns once every letter is acknowledged on ``events.dlq``."""
        ...


class ScoreConsumer:
    def __init__(
        self,
        settings: WarningSettings,
        desk: WarningDesk,
        dead_letters: DeadLetterSink,
        clock: Clock,
        producer_connected: asyncio.Event,
    ) -> None:
        self._settings = settings
        self._desk = desk
        self._dead_letters = dead_letters
        self._clock = clock
        self._producer_connected = producer_connected
        self._topic = settings.topics(Topic.SCORES)
        self._consumer: AIOKafkaConsumer | None = None
        self._lag = LagReporter(settings.group_id, settings.lag_interval_s)
        self._revoke_callbacks: list[Callable[[], Awaitable[None]]] = []

    def assigned(self) -> bool:
        """True while this process holds at least one partition of ``risk.scores``."""
        return bool(self.partitions())

    def partitions(self) -> frozenset[int]:
        """The partitions of ``risk.scores`` this process holds now (and so those of
        ``warning.state`` whose customers it judges)."""
        consumer = self._consumer
        if consumer is None:
            return frozenset()
        return frozenset(tp.partition for tp in consumer.assignment())

    def on_revoke(self, callback: Callable[[], Awaitable[None]]) -> None:
        """``callback`` is awaited whenever partitions are taken from this process, before
        another process may consume them."""
        self._revoke_callbacks.append(callback)

    def _build(self) -> AIOKafkaConsumer:
        consumer = make_consumer(
            self._settings,
            group_id=self._settings.group_id,
            max_poll_records=self._settings.warning_batch_max,
        )
        consumer.subscribe([self._topic], listener=_RevokeListener(self._revoke_callbacks))
        return consumer

    async def run(self) -> None:
        """Consumes forever; rebuilds the consumer after unexpected Kafka errors."""
        await self._producer_connected.wait()
        await run_consumer(
            "score consumer",
            self._build,
            lambda consumer: consume_batches(
                consumer,
                self.handle,
                max_records=self._settings.warning_batch_max,
                lag=self._lag,
                retryable=(PublishUnavailableError, StoreUnavailableError),
                retry_delay_s=RETRY_DELAY_S,
                commit_interval_s=self._settings.kafka_commit_interval_ms / 1000,
            ),
            delay_s=RETRY_DELAY_S,
            on_consumer=self._track,
        )

    def _track(self, consumer: AIOKafkaConsumer | None) -> None:
        self._consumer = consumer

    async def handle(self, records: Sequence[Record]) -> None:
        """Judges a batch and dead-letters what could not be judged; returns once every
        effect is acknowledged (the batch may then be committed)."""
        now = self._clock.now()
        letters: list[DeadLetterRecord] = []
        parsed: list[ScoreRecord] = []
        sources: list[Record] = []
        for record in records:
            if record.timestamp is not None and record.timestamp > 0:
                age_s = now.timestamp() - record.timestamp / 1000
                _event_age.observe(max(age_s, 0.0))
            try:
                parsed.append(ScoreRecord.model_validate_json(record.value or b""))
            except ValidationError as error:
                first = error.errors()[0]
                reason = "invalid_json" if first["type"] == "json_invalid" else "schema_violation"
                location = ".".join(str(part) for part in first["loc"]) or "record"
                letters.append(self._letter(record, reason, f"{location}: {first['msg']}"))
                continue
            sources.append(record)
        result = await self._desk.judge(parsed)
        letters.extend(
            self._letter(sources[rejection.index], rejection.reason, rejection.detail)
            for rejection in result.rejections
        )
        if letters:
            await self._dead_letters.dead_letters(letters)

    def _letter(self, record: Record, reason: str, detail: str) -> DeadLetterRecord:
        return dead_letter(
            record,
            service=self._settings.service_name,
            reason=reason,
            detail=detail,
            now=self._clock.now(),
        )


class _RevokeListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Runs the revoke callbacks; aiokafka awaits them before the group moves on."""

    def __init__(self, callbacks: Sequence[Callable[[], Awaitable[None]]]) -> None:
        self._callbacks = callbacks

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        for callback in self._callbacks:
            await callback()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        return None
