"""The score service's Kafka producer: scores, dead letters, control and audit records.

It connects in the background and keeps retrying while Kafka is unreachable, so the score
API starts and answers whatever Kafka's state (synchronous scoring never needs Kafka).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.records import AuditRecord, ModelControl
from services.common import metrics
from services.common.kafka import make_producer
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from services.scorer.errors import ControlUnavailableError

log = logging.getLogger(__name__)


class KafkaSink:
    def __init__(self, settings: ServiceSettings, timeout_s: float = 10.0) -> None:
        self._settings = settings
        self._timeout_s = timeout_s
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

    async def send(self, topic: str, key: bytes | None, value: bytes) -> asyncio.Future[Any]:
        """Queues one record; the returned future resolves on acknowledgement. Raises
        KafkaError when not connected."""
        producer = self._producer
        if producer is None:
            raise KafkaError("kafka producer not connected")
        future: asyncio.Future[Any] = await producer.send(topic, value=value, key=key)
        return future

    async def send_and_wait(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Sends one record and waits for its acknowledgement, at most the timeout;
        ControlUnavailableError otherwise."""
        try:
            future = await self.send(topic, key, value)
            await asyncio.wait_for(future, self._timeout_s)
        except (KafkaError, TimeoutError) as error:
            metrics.KAFKA_PRODUCE_ERRORS.labels(topic).inc()
            raise ControlUnavailableError(
                f"kafka did not acknowledge on {topic}: {type(error).__name__}"
            ) from error


class KafkaControlPublisher:
    """Publishes registry decisions to ``models.control`` and the audit trail to
    ``risk.audit`` (the adapter of :class:`services.scorer.admin.ControlPublisher`)."""

    def __init__(self, sink: KafkaSink, settings: ServiceSettings) -> None:
        self._sink = sink
        self._topics = settings.topics

    async def publish_control(self, record: ModelControl) -> None:
        await self._sink.send_and_wait(
            self._topics(Topic.MODEL_CONTROL),
            record.role.encode(),
            record.model_dump_json().encode(),
        )

    async def publish_audit(self, record: AuditRecord) -> None:
        await self._sink.send_and_wait(
            self._topics(Topic.AUDIT), record.subject.encode(), record.model_dump_json().encode()
        )
