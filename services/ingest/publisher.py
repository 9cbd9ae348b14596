"""The Kafka adapter behind :class:`services.ingest.core.EventPublisher`."""

from __future__ import annotations

from services.common.kafka import ProducerUnavailableError, ResilientProducer
from services.ingest.errors import PublishUnavailableError


class KafkaEventPublisher(ResilientProducer):
    """Publishes events with the shared resilient producer: the gateway always starts and
    answers 503 (never 202) until the broker is back."""

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        """Sends one record and waits for the acknowledgement, at most the produce timeout.

        On a timeout the record may still reach Kafka later; the client retries and the
        feature service's dedupe by ``event_id`` keeps the effect single.
        """
        try:
            await self.send_all(topic, [(key, value)])
        except ProducerUnavailableError as error:
            raise PublishUnavailableError(str(error)) from error
