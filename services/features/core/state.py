"""The compact per-customer state from which every feature is computed.

Layout (docs/features.md, "State layout"):

* ``fine``: individual :class:`Entry` values for the last few UTC days (see
  :func:`~services.features.core.timeline.fine_start_us`); short windows and the partial
  current day of long windows are read from them exactly.
* ``buckets``: one row of integer aggregates per UTC day and event family, for the older
  days of the 90-day horizon. An entry leaving the fine span is *folded* into its day's row.
* ``addresses``: per UTC day, the shipping-address ids of orders folded into that day.
* ``credit_compacted`` and ``last_order_compacted_us``: lifetime aggregates of folded entries.
* ``orders`` and ``refunds``: indexes that let later events of an order or refund update
  it exactly once; ``seen_event_ids``: the last event ids applied, for idempotency.
* ``profile``: what the onboarding events say (registration, verification results, bureau
  reports), kept over the customer's lifetime; ``contacts``: the customer's identifier
  hashes (read only by ``apply_event``).
* ``signals``: the shared signals that reached the customer, with their retractions.

Amounts are integer ten-thousandths (the contract allows four decimals), so every aggregate
is exact and independent of the order in which events arrive.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, NamedTuple

import orjson

from services.features.core.errors import StateFormatError
from services.features.core.timeline import (
    ADDRESS_HORIZON_DAYS,
    HORIZON_DAYS,
    US_PER_DAY,
    day_of,
    fine_start_us,
)

STATE_FORMAT_VERSION = 2
"""Layout version written by :meth:`CustomerState.to_bytes`; a new layout bumps it and
:meth:`CustomerState.from_bytes` migrates older ones. Version 2 added the profile, the
signals and the contacts; a version 1 state reads as one without them."""
READABLE_FORMAT_VERSIONS = frozenset({1, STATE_FORMAT_VERSION})

AMOUNT_SCALE = 10_000
"""Amounts are kept as integer multiples of 1/AMOUNT_SCALE."""

MAX_FINE_ENTRIES = 1_024
"""Bound on individually kept entries. Past it, the oldest quarter is folded into day
buckets early (an overload safeguard: short windows then undercount)."""

MAX_REMEMBERED_EVENT_IDS = 512
"""How many ids of the customer's most recently applied payment, review and onboarding
events are remembered (order and refund events are recognised by their records)."""

MAX_RESULTS_PER_KIND = 8
"""Verification results kept per kind (the latest by ``occurred_at``)."""
MAX_FAILED_VERIFICATIONS = 32
"""Instants of failed verifications kept (the latest), for the 30-day count."""
MAX_BUREAU_REPORTS = 4
"""Bureau reports kept (the latest by ``fetched_at``)."""
MAX_CONTACTS = 16
"""Identifier hashes kept per customer (the latest registered)."""
MAX_SIGNALS = 64
"""Shared signals kept per customer; past it, inactive ones go first, oldest first."""


class Family(IntEnum):
    """What an entry or a bucket row aggregates."""

    ORDERS = 0
    PAYMENTS = 1
    REFUNDS = 2
    REVIEWS = 3
    CREDIT = 4
    """An entry that only moves ``credit_outstanding`` (it has no bucket row)."""


BUCKET_FAMILIES: tuple[Family, ...] = (
    Family.ORDERS,
    Family.PAYMENTS,
    Family.REFUNDS,
    Family.REVIEWS,
)

# Column positions of each family's row.
ORDER_PLACED, ORDER_AMOUNT, ORDER_CANCELLED, ORDER_CREDIT, ORDER_AMOUNT_MAX = range(5)
(
    PAYMENT_ATTEMPTS,
    PAYMENT_FAILED,
    PAYMENT_CHARGEBACKS,
    PAYMENT_REPAID,
    PAYMENT_ON_TIME,
    PAYMENT_DPD_SUM,
    PAYMENT_DPD_MAX,
) = range(7)
REFUND_APPROVED, REFUND_AMOUNT, REFUND_WITHOUT_RETURN, REFUND_REJECTED = range(4)
REVIEW_COUNT, REVIEW_RATING_SUM, REVIEW_NEGATIVE, REVIEW_ABUSIVE = range(4)

ROW_WIDTHS: tuple[int, ...] = (5, 7, 4, 4)
MAX_COLUMNS: tuple[frozenset[int], ...] = (
    frozenset({ORDER_AMOUNT_MAX}),
    frozenset({PAYMENT_DPD_MAX}),
    frozenset(),
    frozenset(),
)
"""Per bucket family, the columns that combine by maximum; every other column adds."""


class Entry(NamedTuple):
    """One event's contribution, kept individually while recent.

    ``day`` is the UTC day whose windows the entry belongs to: the day of ``at_us``, except
    for a cancellation, which belongs to the day its order was placed. ``delta`` is added to
    (or, in max columns, combined with) the ``family`` row of that day.
    """

    at_us: int
    family: Family
    day: int
    delta: tuple[int, ...]
    credit_delta: int = 0
    address: int | None = None


@dataclass(slots=True)
class OrderRecord:
    """What the state knows of one order. ``credit`` is None until an order event (which
    carries the payment method) is seen; credit adjustments that need it wait in
    ``pending_credit`` as (instant, delta) pairs."""

    last_us: int
    placed_us: int | None = None
    cancelled_us: int | None = None
    completed: bool = False
    amount: int = 0
    credit: bool | None = None
    pending_credit: list[tuple[int, int]] = field(default_factory=list)


@dataclass(slots=True)
class RefundRecord:
    """Which statuses of one refund were applied (each counts once)."""

    last_us: int
    statuses: set[str] = field(default_factory=set)


class BureauReport(NamedTuple):
    """One bureau report: when the platform learnt it (``at_us``, the event's
    ``occurred_at``), when the bureau produced it, the score on a 0..1 scale
    (docs/features.md, "Bureau scores") and the counts it gave."""

    at_us: int
    fetched_us: int
    normalised: float
    delinquencies: int
    inquiries_6m: int


@dataclass(slots=True)
class Profile:
    """What the onboarding events say about the customer, over their lifetime.

    ``results`` holds, per verification kind (its index in ``VERIFICATION_KINDS``), the
    latest results as (instant, passed) pairs in time order; ``failures`` the instants of
    failed verifications; ``reports`` the latest bureau reports in ``fetched_at`` order.
    """

    registered_us: int | None = None
    results: dict[int, list[tuple[int, bool]]] = field(default_factory=dict)
    failures: list[int] = field(default_factory=list)
    reports: list[BureauReport] = field(default_factory=list)

    def is_empty(self) -> bool:
        return self.registered_us is None and not self.results and not self.reports


@dataclass(slots=True)
class SignalRecord:
    """A shared signal as it reached the customer. ``signal_type`` and ``severity`` are
    indexes in ``SIGNAL_TYPES`` and ``SEVERITIES``; they and ``effective_us`` are None
    while only a retraction was seen (a publication arriving later stays retracted)."""

    signal_type: int | None
    severity: int | None
    effective_us: int | None
    expires_us: int | None = None
    retracted_us: int | None = None

    def active_at(self, at_us: int) -> bool:
        """Published at or before ``at_us``, neither retracted nor expired by then."""
        return (
            self.effective_us is not None
            and self.effective_us <= at_us
            and (self.retracted_us is None or self.retracted_us > at_us)
            and (self.expires_us is None or self.expires_us > at_us)
        )

    def ended_us(self) -> int | None:
        """When it stopped counting for good (retracted or expired), None while it may."""
        ends = [us for us in (self.retracted_us, self.expires_us) if us is not None]
        return min(ends) if ends else None


SignalKey = tuple[str, str]
"""A shared signal's identity: (issuer, signal id)."""


def signal_rows(signals: dict[SignalKey, SignalRecord]) -> list[list[Any]]:
    """Signals as JSON rows ``[issuer, signal_id, type, severity, effective, expires,
    retracted]`` (the customer state's and the subject table's format)."""
    return [
        [issuer, signal_id, r.signal_type, r.severity, r.effective_us, r.expires_us, r.retracted_us]
        for (issuer, signal_id), r in signals.items()
    ]


def signals_from_rows(rows: list[list[Any]]) -> dict[SignalKey, SignalRecord]:
    """The inverse of :func:`signal_rows`."""
    return {
        (issuer, signal_id): SignalRecord(kind, severity, effective, expires, retracted)
        for issuer, signal_id, kind, severity, effective, expires, retracted in rows
    }


Contact = tuple[str, str, str]
"""An identifier hash the customer registered: (kind, key id, hex digest)."""


def stable_id(text: str) -> int:
    """A 63-bit hash of an id (blake2b): ids are remembered and compared by it."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@dataclass(slots=True)
class _Records:
    """The part of the state only ``apply_event`` needs: order and refund records and the
    remembered event ids. Serialised separately so that readers can skip decoding it."""

    orders: dict[str, OrderRecord] = field(default_factory=dict)
    refunds: dict[str, RefundRecord] = field(default_factory=dict)
    seen_event_ids: dict[int, None] = field(default_factory=dict)
    contacts: list[Contact] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        seen = struct.pack(f"<{len(self.seen_event_ids)}Q", *self.seen_event_ids)
        document: dict[str, Any] = {
            "orders": {
                order_id: [
                    r.last_us,
                    r.placed_us,
                    r.cancelled_us,
                    r.completed,
                    r.amount,
                    r.credit,
                    r.pending_credit,
                ]
                for order_id, r in self.orders.items()
            },
            "refunds": {
                refund_id: [r.last_us, sorted(r.statuses)] for refund_id, r in self.refunds.items()
            },
            "seen": base64.b64encode(seen).decode("ascii"),
        }
        if self.contacts:
            document["contacts"] = self.contacts
        return orjson.dumps(document)

    @classmethod
    def from_bytes(cls, data: bytes) -> _Records:
        try:
            document = orjson.loads(data)
            seen_bytes = base64.b64decode(document["seen"], validate=True)
            seen = struct.unpack(f"<{len(seen_bytes) // 8}Q", seen_bytes)
            return cls(
                orders={
                    order_id: OrderRecord(
                        last, placed, cancelled, completed, amount, credit, [*map(tuple, pending)]
                    )
                    for order_id, (
                        last,
                        placed,
                        cancelled,
                        completed,
                        amount,
                        credit,
                        pending,
                    ) in document["orders"].items()
                },
                refunds={
                    refund_id: RefundRecord(last_us=last, statuses=set(statuses))
                    for refund_id, (last, statuses) in document["refunds"].items()
                },
                seen_event_ids=dict.fromkeys(seen),
                contacts=[
                    (kind, key_id, digest) for kind, key_id, digest in document.get("contacts", [])
                ],
            )
        except (KeyError, TypeError, ValueError, struct.error) as error:
            raise StateFormatError(f"customer state records are malformed: {error!r}") from None


@dataclass(slots=True, eq=False)
class CustomerState:
    """One customer's compact state. Mutated only by ``apply_event``; read by
    ``compute_features``. ``clock_us`` is the processing clock: the latest ``now`` any
    applied event was processed at (None before the first)."""

    customer_id: str
    clock_us: int | None = None
    first_event_us: int | None = None
    last_order_compacted_us: int | None = None
    credit_compacted: int = 0
    buckets: tuple[dict[int, list[int]], ...] = field(
        default_factory=lambda: tuple({} for _ in BUCKET_FAMILIES)
    )
    addresses: dict[int, set[int]] = field(default_factory=dict)
    fine: list[Entry] = field(default_factory=list)
    profile: Profile = field(default_factory=Profile)
    signals: dict[SignalKey, SignalRecord] = field(default_factory=dict)
    """Shared signals by (issuer, signal id)."""
    _records: _Records | None = field(default_factory=_Records)
    _records_bytes: bytes = b""
    """The serialised records while ``_records`` is None (not decoded yet)."""

    def _decoded_records(self) -> _Records:
        if self._records is None:
            self._records = _Records.from_bytes(self._records_bytes)
            self._records_bytes = b""
        return self._records

    @property
    def orders(self) -> dict[str, OrderRecord]:
        """Order records by order id (decoded on first use after ``from_bytes``)."""
        return self._decoded_records().orders

    @property
    def refunds(self) -> dict[str, RefundRecord]:
        """Refund records by refund id (decoded on first use after ``from_bytes``)."""
        return self._decoded_records().refunds

    @property
    def seen_event_ids(self) -> dict[int, None]:
        """Remembered event id hashes, oldest first (decoded on first use)."""
        return self._decoded_records().seen_event_ids

    @property
    def contacts(self) -> list[Contact]:
        """The identifier hashes the customer registered, oldest first (decoded on first
        use)."""
        return self._decoded_records().contacts

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CustomerState):
            return NotImplemented
        return (
            self.customer_id,
            self.clock_us,
            self.first_event_us,
            self.last_order_compacted_us,
            self.credit_compacted,
            self.buckets,
            self.addresses,
            self.fine,
            self.profile,
            self.signals,
            self._decoded_records(),
        ) == (
            other.customer_id,
            other.clock_us,
            other.first_event_us,
            other.last_order_compacted_us,
            other.credit_compacted,
            other.buckets,
            other.addresses,
            other.fine,
            other.profile,
            other.signals,
            other._decoded_records(),
        )

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def new(cls, customer_id: str) -> CustomerState:
        """The state of a customer with no events."""
        return cls(customer_id=customer_id)

    # -- idempotency -------------------------------------------------------------------

    def has_seen(self, event_key: int) -> bool:
        return event_key in self.seen_event_ids

    def remember(self, event_key: int) -> None:
        """Remembers an applied event id, forgetting the oldest past the bound."""
        self.seen_event_ids[event_key] = None
        if len(self.seen_event_ids) > MAX_REMEMBERED_EVENT_IDS:
            del self.seen_event_ids[next(iter(self.seen_event_ids))]

    # -- entries -------------------------------------------------------------------------

    def add_entry(self, entry: Entry) -> None:
        """Adds an event's contribution: kept individually if it falls in the fine span of
        the current clock, folded into its day bucket otherwise."""
        if self.clock_us is None or entry.at_us >= fine_start_us(self.clock_us):
            self.fine.append(entry)
            if len(self.fine) > MAX_FINE_ENTRIES:
                self._fold_oldest_fine()
        else:
            self._fold(entry, day_of(self.clock_us))

    def _fold(self, entry: Entry, clock_day: int) -> None:
        self.credit_compacted += entry.credit_delta
        if entry.family is Family.CREDIT:
            return
        if entry.family is Family.ORDERS and entry.delta[ORDER_PLACED]:
            last = self.last_order_compacted_us
            if last is None or entry.at_us > last:
                self.last_order_compacted_us = entry.at_us
        if entry.day < clock_day - HORIZON_DAYS:
            return
        rows = self.buckets[entry.family]
        row = rows.get(entry.day)
        if row is None:
            rows[entry.day] = list(entry.delta)
        else:
            max_columns = MAX_COLUMNS[entry.family]
            for column, value in enumerate(entry.delta):
                if column in max_columns:
                    row[column] = max(row[column], value)
                else:
                    row[column] += value
        if entry.address is not None and entry.day >= clock_day - ADDRESS_HORIZON_DAYS:
            self.addresses.setdefault(entry.day, set()).add(entry.address)

    def _fold_oldest_fine(self) -> None:
        assert self.clock_us is not None, "the clock is set once any entry was folded"
        self.fine.sort(key=lambda entry: entry.at_us)
        cut = len(self.fine) - MAX_FINE_ENTRIES * 3 // 4
        clock_day = day_of(self.clock_us)
        for entry in self.fine[:cut]:
            self._fold(entry, clock_day)
        del self.fine[:cut]

    # -- clock ---------------------------------------------------------------------------

    def advance_clock(self, clock_us: int) -> None:
        """Moves the processing clock forward (never back). When it enters a new UTC day,
        folds entries that left the fine span and drops what no window can read any more:
        day rows older than 90 days, address days older than 30 days, order and refund
        records with no activity for 90 days, and signals retracted or expired more than
        90 days before."""
        previous = self.clock_us
        if previous is not None and clock_us <= previous:
            return
        self.clock_us = clock_us
        if previous is not None and day_of(clock_us) == day_of(previous):
            return
        fine_start = fine_start_us(clock_us)
        clock_day = day_of(clock_us)
        if any(entry.at_us < fine_start for entry in self.fine):
            kept: list[Entry] = []
            for entry in self.fine:
                if entry.at_us >= fine_start:
                    kept.append(entry)
                else:
                    self._fold(entry, clock_day)
            self.fine = kept
        horizon = clock_day - HORIZON_DAYS
        for rows in self.buckets:
            for day in [day for day in rows if day < horizon]:
                del rows[day]
        address_horizon = clock_day - ADDRESS_HORIZON_DAYS
        for day in [day for day in self.addresses if day < address_horizon]:
            del self.addresses[day]
        for order_id in [k for k, r in self.orders.items() if day_of(r.last_us) < horizon]:
            del self.orders[order_id]
        for refund_id in [k for k, r in self.refunds.items() if day_of(r.last_us) < horizon]:
            del self.refunds[refund_id]
        drop_ended_signals(self.signals, horizon * US_PER_DAY)

    # -- serialisation -------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Two lines of compact JSON (orjson): the header, with :data:`STATE_FORMAT_VERSION`
        as ``"v"`` and everything ``compute_features`` reads, then the order and refund
        records and remembered ids, which only ``apply_event`` needs."""
        header: dict[str, Any] = {
            "v": STATE_FORMAT_VERSION,
            "id": self.customer_id,
            "clock": self.clock_us,
            "first": self.first_event_us,
            "last_order": self.last_order_compacted_us,
            "credit": self.credit_compacted,
            "buckets": [[[day, *row] for day, row in rows.items()] for rows in self.buckets],
            "addresses": [[day, sorted(ids)] for day, ids in self.addresses.items()],
            "fine": [
                [e.at_us, int(e.family), e.day, e.credit_delta, e.address, *e.delta]
                for e in self.fine
            ],
        }
        # Absent when empty: customers without onboarding data or signals pay nothing.
        if not self.profile.is_empty():
            profile = self.profile
            header["profile"] = [
                profile.registered_us,
                [[kind, results] for kind, results in profile.results.items()],
                profile.failures,
                [list(report) for report in profile.reports],
            ]
        if self.signals:
            header["signals"] = signal_rows(self.signals)
        records = self._records.to_bytes() if self._records is not None else self._records_bytes
        return orjson.dumps(header) + b"\n" + records

    @classmethod
    def from_bytes(cls, data: bytes) -> CustomerState:
        """Reads :meth:`to_bytes` output; :class:`StateFormatError` if it is corrupt or of
        an unknown format version. The records line is decoded when first needed (by
        ``apply_event``, not by ``compute_features``), so an error in it surfaces then."""
        header_bytes, newline, records = data.partition(b"\n")
        try:
            header = orjson.loads(header_bytes)
        except orjson.JSONDecodeError as error:
            raise StateFormatError(f"customer state is not valid JSON: {error}") from None
        version = header.get("v") if isinstance(header, dict) else None
        if version not in READABLE_FORMAT_VERSIONS:
            raise StateFormatError(
                f"customer state format version {version!r} is not supported "
                f"(this build reads versions {sorted(READABLE_FORMAT_VERSIONS)})"
            )
        if not newline:
            raise StateFormatError("customer state is malformed: its records line is missing")
        try:
            state = cls._from_header(header)
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise StateFormatError(f"customer state is malformed: {error!r}") from None
        state._records = None
        state._records_bytes = records
        return state

    @classmethod
    def _from_header(cls, header: dict[str, Any]) -> CustomerState:
        """The state a header describes. A version 1 header has no profile and no signals
        (the migration to version 2 is reading them as empty)."""
        if len(header["buckets"]) != len(BUCKET_FAMILIES):
            raise ValueError(f"expected {len(BUCKET_FAMILIES)} bucket families")
        profile = Profile()
        if "profile" in header:
            registered, results, failures, reports = header["profile"]
            profile = Profile(
                registered_us=registered,
                results={kind: [(at, passed) for at, passed in rows] for kind, rows in results},
                failures=list(failures),
                reports=[BureauReport(*report) for report in reports],
            )
        return cls(
            customer_id=header["id"],
            clock_us=header["clock"],
            first_event_us=header["first"],
            last_order_compacted_us=header["last_order"],
            credit_compacted=header["credit"],
            buckets=tuple({row[0]: row[1:] for row in rows} for rows in header["buckets"]),
            addresses={day: set(ids) for day, ids in header["addresses"]},
            fine=[
                Entry(at, Family(family), day, tuple(delta), credit, address)
                for at, family, day, credit, address, *delta in header["fine"]
            ],
            profile=profile,
            signals=signals_from_rows(header.get("signals", [])),
        )


def drop_ended_signals(signals: dict[SignalKey, SignalRecord], before_us: int) -> None:
    """Forgets the signals that stopped counting (retracted or expired) before
    ``before_us``. Until then a retraction is kept, so a late copy of its publication
    cannot bring the signal back."""
    for key, record in list(signals.items()):
        ended = record.ended_us()
        if ended is not None and ended < before_us:
            del signals[key]


def keep_signals_bounded(signals: dict[SignalKey, SignalRecord], bound: int) -> None:
    """Drops signals past ``bound``: those no longer counting first, then the oldest."""
    if len(signals) <= bound:
        return

    def order(item: tuple[SignalKey, SignalRecord]) -> tuple[bool, int]:
        record = item[1]
        return record.ended_us() is None, record.effective_us or 0

    for key, _ in sorted(signals.items(), key=order)[: len(signals) - bound]:
        del signals[key]
