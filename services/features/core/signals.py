"""Shared signals in the customer's state and in the subject table (docs/sharing.md, "From a
signal to features").

A signal counts from its ``effective_at`` until it is retracted or expires. Each (issuer,
signal id) is kept once, however many of the customer's identifiers it matched and however
often it was delivered; a retraction is kept too, so a publication delivered after it (from
another identifier's partition, or replayed) does not bring the signal back."""

from __future__ import annotations

from datetime import datetime

from schemas.signals import SEVERITIES, SIGNAL_TYPES, MatchedSignal, Severity, SignalType
from services.features.core.state import (
    MAX_SIGNALS,
    CustomerState,
    SignalKey,
    SignalRecord,
    keep_signals_bounded,
)
from services.features.core.timeline import to_us


def file_publication(
    signals: dict[SignalKey, SignalRecord],
    key: SignalKey,
    signal_type: SignalType,
    severity: Severity,
    effective_at: datetime,
    expires_at: datetime | None,
) -> bool:
    """Files a publication; False when it was already filed (a retraction filed before it
    stays in force)."""
    record = signals.get(key)
    if record is not None and record.effective_us is not None:
        return False
    signals[key] = SignalRecord(
        SIGNAL_TYPES.index(signal_type),
        SEVERITIES.index(severity),
        to_us(effective_at),
        to_us(expires_at) if expires_at is not None else None,
        record.retracted_us if record is not None else None,
    )
    return True


def file_retraction(
    signals: dict[SignalKey, SignalRecord], key: SignalKey, retracted_at: datetime
) -> bool:
    """Files a retraction (also of a signal not seen yet); False when already filed."""
    record = signals.get(key)
    if record is None:
        signals[key] = SignalRecord(None, None, None, retracted_us=to_us(retracted_at))
        return True
    if record.retracted_us is not None:
        return False
    record.retracted_us = to_us(retracted_at)
    return True


def record_signal(state: CustomerState, matched: MatchedSignal) -> bool:
    """Files a match in ``state.signals``; False when it changes nothing."""
    key = (matched.issuer, matched.signal_id)
    if matched.action == "retract":
        changed = file_retraction(state.signals, key, matched.effective_at)
    else:
        assert matched.signal_type is not None, "MatchedSignal requires it when published"
        assert matched.severity is not None, "MatchedSignal requires it when published"
        changed = file_publication(
            state.signals,
            key,
            matched.signal_type,
            matched.severity,
            matched.effective_at,
            matched.expires_at,
        )
    keep_signals_bounded(state.signals, MAX_SIGNALS)
    return changed
