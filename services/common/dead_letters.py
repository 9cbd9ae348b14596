"""Dead-letter records for ``events.dlq``: where a rejected record came from, why, and its
original bytes, so an operator can repair and replay it. Nothing is dropped silently."""

from __future__ import annotations

import base64
from datetime import datetime

from schemas.records import DeadLetterRecord


def dead_letter(
    *,
    service: str,
    source_topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    reason: str,
    detail: str,
    now: datetime,
) -> DeadLetterRecord:
    """Builds the record; ``detail`` is truncated to 2,000 characters to keep records small."""
    return DeadLetterRecord(
        source_topic=source_topic,
        partition=partition,
        offset=offset,
        reason=reason,
        detail=detail[:2000],
        service=service,
        key=key.decode("utf-8", errors="replace") if key is not None else None,
        value_b64=base64.b64encode(value or b"").decode("ascii"),
        failed_at=now,
    )
