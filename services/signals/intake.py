"""Inbound signals: read from the exchange (its own consumer group, at-least-once), judged by
:func:`services.signals.core.check_signal`, then filed once per subject on
``signals.subjects`` (accepted), skipped (this platform's own) or dead-lettered on
``events.dlq`` (refused; a raw identifier is redacted first). A batch's offsets are committed
only once every record it produced is acknowledged; when Kafka does not acknowledge, the
batch is read again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer

from schemas.signals import AcceptedSignal
from services.common import metrics
from services.common.clock import Clock
from services.common.consuming import Record, consume_batches, run_consumer
from services.common.dead_letters import dead_letter
from services.common.kafka import (
    LagReporter,
    ProducerUnavailableError,
    ResilientProducer,
    make_consumer,
)
from services.common.topics import Topic
from services.signals.core import (
    REDACTED,
    Accepted,
    IntakePolicy,
    Own,
    Refused,
    check_signal,
    looks_raw,
)
from services.signals.metrics import SIGNALS_READ
from services.signals.settings import SignalsSettings

log = logging.getLogger(__name__)


def intake_policy(settings: SignalsSettings) -> IntakePolicy:
    """The policy the settings describe (issuer entries ``name`` or ``name:secret``)."""
    issuers: dict[str, tuple[bytes, ...]] = {}
    for entry in settings.signal_issuers:
        name, _, secret = entry.get_secret_value().partition(":")
        secrets = issuers.setdefault(name.strip(), ())
        if secret:
            issuers[name.strip()] = (*secrets, secret.encode())
    return IntakePolicy(
        platform_id=settings.platform_id,
        issuers=issuers,
        key_ids=frozenset(settings.signal_key_ids),
        max_age=timedelta(days=settings.signal_max_age_days),
    )


@dataclass(frozen=True, slots=True)
class _KeptRecord:
    """A refused record as its dead letter keeps it: where it came from, and its key and
    value with any raw identifier redacted."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class SignalIntake:
    """The exchange consumer (``run``) and its batch handler (``handle``)."""

    def __init__(
        self,
        settings: SignalsSettings,
        policy: IntakePolicy,
        clock: Clock,
        sink: ResilientProducer,
    ) -> None:
        self._settings = settings
        self._policy = policy
        self._clock = clock
        self._sink = sink
        self._subjects_topic = settings.topics(Topic.SIGNAL_SUBJECTS)
        self._dlq_topic = settings.topics(Topic.DLQ)
        self._lag = LagReporter(settings.group_id)
        self.reading = False

    async def run(self) -> None:
        """Consumes the exchange forever; reconnects after Kafka errors."""
        await self._sink.connected.wait()
        exchange = self._settings.exchange()
        await run_consumer(
            "signal intake",
            lambda: make_consumer(
                exchange,
                self._settings.exchange_topic_name,
                group_id=self._settings.group_id,
                max_poll_records=self._settings.signals_batch_max,
            ),
            lambda consumer: consume_batches(
                consumer,
                self.handle,
                max_records=self._settings.signals_batch_max,
                lag=self._lag,
                retryable=(ProducerUnavailableError,),
            ),
            on_consumer=self._on_consumer,
        )

    def _on_consumer(self, consumer: AIOKafkaConsumer | None) -> None:
        self.reading = consumer is not None

    async def handle(self, records: Sequence[Record]) -> None:
        """Judges and routes a batch; returns once Kafka acknowledged every output.
        Raises :class:`ProducerUnavailableError` when it did not (nothing is committed)."""
        now = self._clock.now()
        futures: list[asyncio.Future[Any]] = []
        for record in records:
            verdict = check_signal(record.value, self._policy, now)
            if isinstance(verdict, Accepted):
                SIGNALS_READ.labels("accepted").inc()
                for subject in verdict.signal.subjects:
                    filed = AcceptedSignal(
                        subject=subject, signal=verdict.signal, effective_at=verdict.effective_at
                    )
                    futures.append(
                        await self._sink.send(
                            self._subjects_topic,
                            subject.subject_key.encode(),
                            filed.model_dump_json(exclude_none=True).encode(),
                        )
                    )
            elif isinstance(verdict, Own):
                SIGNALS_READ.labels("own").inc()
            else:
                SIGNALS_READ.labels("refused").inc()
                futures.append(await self._dead_letter(record, verdict, now))
        try:
            await asyncio.wait_for(asyncio.gather(*futures), self._settings.produce_timeout_s)
        except Exception as error:
            raise ProducerUnavailableError(f"signal outputs not acknowledged: {error!r}") from error

    async def _dead_letter(
        self, record: Record, refused: Refused, now: datetime
    ) -> asyncio.Future[Any]:
        metrics.DEAD_LETTERS.labels(record.topic, refused.reason).inc()
        key = record.key
        if key is not None and looks_raw(key.decode("utf-8", errors="replace")) is not None:
            key = REDACTED.encode()
        kept = _KeptRecord(
            record.topic,
            record.partition,
            record.offset,
            key,
            refused.kept_value if refused.kept_value is not None else record.value,
        )
        letter = dead_letter(
            kept,
            service=self._settings.service_name,
            reason=refused.reason,
            detail=refused.detail,
            now=now,
        )
        log.warning("signal refused", extra={"reason": refused.reason, "offset": record.offset})
        return await self._sink.send(self._dlq_topic, key, letter.model_dump_json().encode())
