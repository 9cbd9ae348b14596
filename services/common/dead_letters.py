"""Dead-letter records for ``events.dlq``: where a rejected record came from, why, and its
original bytes, so an operator can repair and replay it. Nothing is dropped silently."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Protocol

from schemas.records import DeadLetterRecord


class RecordOrigin(Protocol):
    """What a dead letter needs of the record it rejects (an aiokafka ConsumerRecord, or a
    service's own record type)."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...


def dead_letter(
    record: RecordOrigin, *, service: str, reason: str, detail: str, now: datetime
) -> DeadLetterRecord:
    """Builds the record; ``detail`` is truncated to 2,000 characters to keep records small."""
    return DeadLetterRecord(
        source_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        reason=reason,
        detail=detail[:2000],
        service=service,
        key=record.key.decode("utf-8", errors="replace") if record.key is not None else None,
        value_b64=base64.b64encode(record.value or b"").decode("ascii"),
        failed_at=now,
    )
