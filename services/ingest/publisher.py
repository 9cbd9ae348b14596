"""The aiokafka adapter behind :class:`services.ingest.core.EventPublisher`.

The producer starts in the background and keeps retrying while Kafka is unreachable, so the
gateway itself always starts and answers 503 (never 202) until the broker is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.common import metrics
from services.common.kafka import make_producer
from services.common.settings import ServiceSettings
from services.ingest.errors import PublishUnavailableError

log = logging.getLogger(__name__)


class KafkaEventPublisher:
    def __init__(self, settings: ServiceSettings, produce_timeout_s: float) -> None:
        self._settings = settings
        self._timeout_s = produce_timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._connector: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

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
            self._connected.set()
            return

    async def wait_connected(self, timeout_s: float) -> None:
        """Returns once the producer is connected; TimeoutError after ``timeout_s``."""
        await asyncio.wait_for(self._connected.wait(), timeout_s)

    async def stop(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        if self._producer is not None:
            await self._producer.stop()

    async def ready(self) -> bool:
        """True when the producer is connected and the cluster answers metadata."""
        producer = self._producer
        if producer is None:
            return False
        try:
            return bool(await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout=1.0))
        except (KafkaError, TimeoutError):
            return False

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        """Sends one record and waits for the acknowledgement, at most the produce timeout.

        On a timeout the record may still reach Kafka later; the client retries and the
        feature service's dedupe by ``event_id`` keeps the effect single.
        """
        producer = self._producer
        if producer is None:
            metrics.KAFKA_PRODUCE_ERRORS.labels(topic).inc()
            raise PublishUnavailableError("kafka producer not connected")
        try:
            await asyncio.wait_for(
                producer.send_and_wait(topic, value=value, key=key), self._timeout_s
            )
        except (KafkaError, TimeoutError) as error:
            metrics.KAFKA_PRODUCE_ERRORS.labels(topic).inc()
            raise PublishUnavailableError(
                f"kafka did not acknowledge: {type(error).__name__}"
            ) from error
