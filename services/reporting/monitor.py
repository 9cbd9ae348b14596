"""The outcomes monitor: reads ``risk.scores`` and ``events.payments`` and serves the vintage
gauges on ``/metrics`` (``python -m services.reporting``).

It keeps no state of its own: at start it reads both topics from the earliest record they
retain (no consumer group: nothing is committed, nobody's offsets move) and goes on reading
as records arrive, so a restart rebuilds the same book from Kafka. What it can see back in
time is what the topics retain (``risk.scores`` and ``events.payments`` keep 100 days).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from schemas.events import PaymentEvent
from schemas.scores import ScoreRecord
from services.common.consuming import run_consumer
from services.common.kafka import make_consumer
from services.common.topics import Topic
from services.reporting import metrics
from services.reporting.settings import ReportingSettings
from services.reporting.vintages import VintageBook

log = logging.getLogger(__name__)


class OutcomesMonitor:
    """Feeds a :class:`VintageBook` from Kafka and exports it every ``outcomes_refresh_s``."""

    def __init__(self, settings: ReportingSettings) -> None:
        self.settings = settings
        self.book = VintageBook()
        self._scores = settings.topics(Topic.SCORES)
        self._payments = settings.topics(Topic.PAYMENTS)
        self._reading = False

    def reading(self) -> bool:
        return self._reading

    def _build(self) -> AIOKafkaConsumer:
        return make_consumer(self.settings, self._scores, self._payments, group_id=None)

    def _on_consumer(self, consumer: AIOKafkaConsumer | None) -> None:
        self._reading = consumer is not None

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            for records in batches.values():
                for record in records:
                    if record.value is not None:
                        self.apply(record.topic, record.value)

    def apply(self, topic: str, value: bytes) -> None:
        """One record into the book; records that are not valid are skipped (their topic's
        own consumers dead-letter them)."""
        try:
            if topic == self._scores:
                self.book.add_score(ScoreRecord.model_validate_json(value))
            elif topic == self._payments:
                self.book.add_payment(PaymentEvent.model_validate_json(value))
        except ValidationError:
            return

    def refresh(self, now: datetime | None = None) -> None:
        """Recomputes the cells as of ``now`` and exports the latest cohorts."""
        cells = self.book.cells(now or datetime.now(UTC))
        cohorts = sorted({c.cohort for c in cells})[-self.settings.outcomes_cohorts :]
        metrics.export([c for c in cells if c.cohort in cohorts])

    async def run(self) -> None:
        await run_consumer(
            "outcomes", self._build, self._consume, max_delay_s=30.0, on_consumer=self._on_consumer
        )

    async def export_forever(self) -> None:
        while True:
            self.refresh()
            await asyncio.sleep(self.settings.outcomes_refresh_s)
