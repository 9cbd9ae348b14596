"""The Kafka adapter behind :class:`ActionPublisher`, :class:`AuditSink` and
:class:`StateLog` (``warning.state``), and the dead-letter path of the consumer.

The producer (idempotent, ``acks=all``) connects in the background and keeps retrying while
Kafka is unreachable, so the service starts and answers ``GET`` requests whatever Kafka's
state; anything that must be published fails with :class:`PublishUnavailableError` until
the broker is back.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.actions import RiskAction
from schemas.codecs import model_json
from schemas.records import AuditRecord, DeadLetterRecord
from services.common import metrics
from services.common.kafka import ProducerUnavailableError, ResilientProducer
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from services.warning.core import WarningState
from services.warning.errors import PublishUnavailableError


class KafkaPublisher(ResilientProducer):
    def __init__(self, settings: ServiceSettings, timeout_s: float) -> None:
        super().__init__(settings, timeout_s)
        self._topics = settings.topics

    async def _send_all(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        try:
            await self.send_all(topic, records)
        except ProducerUnavailableError as error:
            raise PublishUnavailableError(str(error)) from error

    async def publish(self, actions: Sequence[RiskAction]) -> None:
        await self._send_all(
            self._topics(Topic.ACTIONS),
            [(action.customer_id.encode(), model_json(action)) for action in actions],
        )

    async def append(self, states: Sequence[WarningState]) -> None:
        """Appends each state to the compacted ``warning.state``, keyed by customer (so on
        the partition of the customer's scores)."""
        await self._send_all(
            self._topics(Topic.WARNING_STATE),
            [(state.customer_id.encode(), state.to_json()) for state in states],
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
