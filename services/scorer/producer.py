"""The score service's Kafka producer: scores, dead letters, control and audit records.

It connects in the background (:class:`services.common.kafka.ResilientProducer`), so the
score API starts and answers whatever Kafka's state (synchronous scoring never needs Kafka).
"""

from __future__ import annotations

from schemas.records import AuditRecord, ModelControl
from services.common.kafka import ProducerUnavailableError, ResilientProducer
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from services.scorer.errors import ControlUnavailableError


class KafkaSink(ResilientProducer):
    """The shared resilient producer, with the scorer's error type for control records."""

    async def send_and_wait(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Sends one record and waits for its acknowledgement, at most the timeout;
        ControlUnavailableError otherwise."""
        try:
            await self.send_all(topic, [(key, value)])
        except ProducerUnavailableError as error:
            raise ControlUnavailableError(str(error)) from error


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
