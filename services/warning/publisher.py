"""The Kafka adapter behind :class:`ActionPublisher` and :class:`AuditSink`, and the
dead-letter path of the consumer.

The producer (idempotent, ``acks=all``) connects in the background and keeps retrying while
Kafka is unreachable, so the service starts and answers ``GET`` requests whatever Kafka's
state; anything that must be published fails with :class:`PublishUnavailableError` until
the broker is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.actions import RiskAction
from schemas.records import AuditRecord, DeadLetterRecord
from services.common import metrics
from services.common.kafka import make_producer
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from services.warning.errors import PublishUnavailableError

log = logging.getLogger(__name__)


class KafkaPublisher:
    def __init__(self, settings: ServiceSettings, timeout_s: float) -> None:
        self._settings = settings
        self._timeout_s = timeout_s
        self._topics = settings.topics
        self._producer: AIOKafkaProducer | None = None
        self._connector: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def start(self) -> None:
        """Begins connecting; returns at once."""
        self._connector = asyncio.create_task(self._connect_until_started())

    async def _connect_until_started(self) -> None:
        delay_s = 0.5
        while True:
            producer = make_producer(self._settings, request_timeout_ms=int(self._timeout_s * 1000))
            try:
                await producer.start()
            except KafkaError as error:
                log.warning("kafka not reachable, retrying", extra={"error": str(error)})
                with contextlib.suppress(Exception):
                    await producer.stop()
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 5.0)
                continue
            self._producer = producer
            self.connected.set()
            return

    async def stop(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        if self._producer is not None:
            await self._producer.stop()

    async def _send_all(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        """Queues every record in order, then waits for all acknowledgements (at most the
        timeout). The idempotent producer keeps one key's records in order on retries."""
        if not records:
            return
        producer = self._producer
        try:
            if producer is None:
                raise KafkaError("kafka producer not connected")
            futures: list[asyncio.Future[Any]] = [
                await producer.send(topic, value=value, key=key) for key, value in records
            ]
            await asyncio.wait_for(asyncio.gather(*futures), self._timeout_s)
        except (KafkaError, TimeoutError) as error:
            metrics.KAFKA_PRODUCE_ERRORS.labels(topic).inc()
            raise PublishUnavailableError(
                f"kafka did not acknowledge on {topic}: {type(error).__name__}: {error}"
            ) from error

    async def publish(self, actions: Sequence[RiskAction]) -> None:
        await self._send_all(
            self._topics(Topic.ACTIONS),
            [(a.customer_id.encode(), a.model_dump_json().encode()) for a in actions],
        )

    async def record(self, audit: AuditRecord) -> None:
        await self._send_all(
            self._topics(Topic.AUDIT), [(audit.subject.encode(), audit.model_dump_json().encode())]
        )

    async def dead_letters(self, letters: Sequence[DeadLetterRecord]) -> None:
        """Publishes dead letters keyed as the rejected records were."""
        await self._send_all(
            self._topics(Topic.DLQ),
            [
                (None if d.key is None else d.key.encode(), d.model_dump_json().encode())
                for d in letters
            ],
        )
        for letter in letters:
            metrics.DEAD_LETTERS.labels(letter.source_topic, letter.reason).inc()
