"""This platform's own signals: published to the exchange, signed with its secret, each
publication and retraction audited on ``risk.audit`` before it leaves (an unaudited signal
never does)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiokafka.errors import KafkaError

from schemas.records import AuditRecord
from schemas.signals import (
    SignalPublication,
    SignalPublishRequest,
    SignalRetraction,
    SignalRetractRequest,
)
from services.common.clock import Clock
from services.common.kafka import ProducerUnavailableError, ResilientProducer
from services.common.topics import Topic
from services.signals.core import publication, retraction
from services.signals.errors import PublishUnavailableError
from services.signals.metrics import SIGNALS_PUBLISHED
from services.signals.settings import SignalsSettings


class SignalPublisher:
    """Publishes and retracts this platform's signals (the admin API calls it)."""

    def __init__(
        self,
        settings: SignalsSettings,
        exchange: ResilientProducer,
        platform: ResilientProducer,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._exchange = exchange
        self._platform = platform
        self._clock = clock
        self._secret = settings.signal_signing_key.get_secret_value().encode()

    async def publish(self, request: SignalPublishRequest, actor: str) -> SignalPublication:
        """Audits, then publishes, the signal; PublishUnavailableError when Kafka did not
        acknowledge either (the audit trail may then hold an attempt that never left)."""
        signal_id = request.signal_id or f"{self._settings.platform_id}-{uuid.uuid4().hex}"[:64]
        signal = publication(
            self._settings.platform_id, request, signal_id, self._clock.now(), self._secret
        )
        await self._send(
            signal,
            actor,
            "signal.publish",
            request.reason,
            {
                "signal_type": signal.signal_type,
                "severity": signal.severity,
                "observed_on": signal.observed_on.isoformat(),
                "legal_basis": signal.legal_basis,
                "consent_ref": signal.consent_ref,
            },
        )
        SIGNALS_PUBLISHED.labels("publish").inc()
        return signal

    async def retract(
        self, signal_id: str, request: SignalRetractRequest, actor: str
    ) -> SignalRetraction:
        """Audits, then publishes, the retraction of this platform's signal ``signal_id``."""
        signal = retraction(
            self._settings.platform_id, signal_id, request, self._clock.now(), self._secret
        )
        await self._send(
            signal, actor, "signal.retract", request.comment, {"reason": request.reason}
        )
        SIGNALS_PUBLISHED.labels("retract").inc()
        return signal

    async def _send(
        self,
        signal: SignalPublication | SignalRetraction,
        actor: str,
        operation: str,
        reason: str,
        details: dict[str, Any],
    ) -> None:
        audit = AuditRecord.new(
            service=self._settings.service_name,
            actor=actor,
            operation=operation,
            subject=signal.signal_id,
            reason=reason,
            at=signal.issued_at,
            details={**details, "subject_kinds": [s.kind for s in signal.subjects]},
        )
        # Keyed by the first subject: a signal's publication and retraction keep their order.
        key = signal.subjects[0].subject_key.encode()
        timeout_s = self._settings.produce_timeout_s
        try:
            await self._platform.send_all(
                self._settings.topics(Topic.AUDIT),
                [(signal.signal_id.encode(), audit.model_dump_json().encode())],
            )
            future = await self._exchange.send(
                self._settings.exchange_topic_name,
                key,
                signal.model_dump_json(exclude_none=True).encode(),
            )
            await asyncio.wait_for(future, timeout_s)
        except (ProducerUnavailableError, KafkaError, TimeoutError) as error:
            raise PublishUnavailableError(str(error)) from error
