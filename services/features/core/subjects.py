"""Where a shared signal meets the platform's customers: one entry per identifier hash
(a *subject*), holding the customers who registered it and the signals that name it
(docs/sharing.md, "Matching signals to customers").

Both kinds of record about a subject arrive on ``signals.subjects`` keyed by the subject,
so they meet in one partition and one entry, whichever comes first: a signal about a
person who registers later reaches them at registration. Every record yields the matches
it implies for every customer concerned, even when the entry already held them: the matches
are idempotent downstream, and re-sending them makes a delivery lost in a crash good on the
record's redelivery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import orjson

from schemas.identifiers import IdentifierKind
from schemas.signals import (
    SEVERITIES,
    SIGNAL_TYPES,
    AcceptedSignal,
    ContactLink,
    MatchedSignal,
    SignalPublication,
)
from services.features.core.errors import StateFormatError
from services.features.core.signals import file_publication, file_retraction
from services.features.core.state import (
    SignalKey,
    SignalRecord,
    drop_ended_signals,
    keep_signals_bounded,
    signal_rows,
    signals_from_rows,
)
from services.features.core.timeline import HORIZON_DAYS, US_PER_DAY, from_us, to_us

MAX_SUBJECT_CUSTOMERS = 32
"""Customers kept per identifier (the latest to register it): a phone number or ID number
is one person's, so more than a handful of holders is itself suspicious."""
MAX_SUBJECT_SIGNALS = 64
"""Signals kept per identifier; past it, inactive ones go first, oldest first."""


@dataclass(slots=True)
class SubjectEntry:
    """What the platform knows about one identifier hash."""

    kind: IdentifierKind
    customers: list[str] = field(default_factory=list)
    signals: dict[SignalKey, SignalRecord] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {"kind": self.kind, "customers": self.customers, "signals": signal_rows(self.signals)}
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> SubjectEntry:
        """Reads :meth:`to_bytes` output; :class:`StateFormatError` when it is corrupt."""
        try:
            document = orjson.loads(data)
            return cls(
                kind=document["kind"],
                customers=list(document["customers"]),
                signals=signals_from_rows(document["signals"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise StateFormatError(f"subject entry is malformed: {error!r}") from None


def link_customer(entry: SubjectEntry, link: ContactLink) -> list[MatchedSignal]:
    """Files the customer as a holder of the subject; returns every signal of the entry as
    it now stands, matched to that customer."""
    if link.customer_id not in entry.customers:
        entry.customers.append(link.customer_id)
        del entry.customers[:-MAX_SUBJECT_CUSTOMERS]
    return [
        match
        for key, record in entry.signals.items()
        for match in _matches(entry.kind, key, record, link.customer_id)
    ]


def file_accepted(
    entry: SubjectEntry, accepted: AcceptedSignal, now: datetime
) -> list[MatchedSignal]:
    """Files an accepted publication or retraction; returns it, as the entry now holds it,
    matched to every customer of the subject. Signals that ended more than 90 days before
    ``now`` are forgotten."""
    signal = accepted.signal
    key = (signal.issuer, signal.signal_id)
    if isinstance(signal, SignalPublication):
        file_publication(
            entry.signals,
            key,
            signal.signal_type,
            signal.severity,
            accepted.effective_at,
            signal.expires_at,
        )
    else:
        file_retraction(entry.signals, key, accepted.effective_at)
    record = entry.signals[key]
    drop_ended_signals(entry.signals, to_us(now) - HORIZON_DAYS * US_PER_DAY)
    keep_signals_bounded(entry.signals, MAX_SUBJECT_SIGNALS)
    return [
        match
        for customer in entry.customers
        for match in _matches(entry.kind, key, record, customer)
    ]


def _matches(
    kind: IdentifierKind, key: SignalKey, record: SignalRecord, customer_id: str
) -> list[MatchedSignal]:
    """The publication and the retraction the record holds, for one customer."""
    issuer, signal_id = key
    matches: list[MatchedSignal] = []
    if record.effective_us is not None:
        assert record.signal_type is not None
        assert record.severity is not None
        matches.append(
            MatchedSignal(
                customer_id=customer_id,
                issuer=issuer,
                signal_id=signal_id,
                action="publish",
                signal_type=SIGNAL_TYPES[record.signal_type],
                severity=SEVERITIES[record.severity],
                effective_at=from_us(record.effective_us),
                expires_at=from_us(record.expires_us) if record.expires_us is not None else None,
                subject_kind=kind,
            )
        )
    if record.retracted_us is not None:
        matches.append(
            MatchedSignal(
                customer_id=customer_id,
                issuer=issuer,
                signal_id=signal_id,
                action="retract",
                effective_at=from_us(record.retracted_us),
                subject_kind=kind,
            )
        )
    return matches
