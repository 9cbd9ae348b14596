"""Outcomes monitoring: whether the probabilities of default the model served come true.

Pure aggregation over two records the platform already keeps: the scores (``risk.scores``)
and the payment events (``events.payments``).

Definitions:

- A customer's **cohort** is the calendar month (UTC) of their first score seen; their
  grade, score band and predicted PD are those of that score. Each customer counts once.
- A customer **goes bad** at their first chargeback, or when a repayment reaches
  :data:`BAD_DAYS_PAST_DUE` days past due (its due date plus 30 days; a payment event
  carrying ``days_past_due >= 30`` shows it), whichever comes first after the cohort score.
  These are the simulator's and the model's own definitions; a refund abuse confirmed later
  reaches no topic and is not seen here.
- **Vintage curve**: for month on book ``k`` (1, 2, 3, ...), the share of a cohort's
  customers observed for at least ``k`` 30-day months that went bad within ``k`` months.
- The model predicts a bad outcome within :data:`HORIZON_MONTHS` months (90 days), so the
  **realised bad rate** of a (cohort, grade) is its vintage at that month once it is
  observable (the cell is **mature**), else the latest month observable.
- **Calibrated band**: the mean predicted PD ``p`` of the cell's ``n`` customers plus or
  minus ``z * sqrt(p (1 - p) / n)`` (``z`` = :data:`BAND_Z`, 99 %), clipped to [0, 1]. A
  mature cell's realised rate should fall inside; an immature one should not already be
  above the upper bound. Cells with fewer than :data:`MIN_CUSTOMERS` customers are shown
  but never judged.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.events import PaymentEvent
from schemas.scores import GRADES, Grade, ScoreRecord

BAD_DAYS_PAST_DUE = 30
MONTH = timedelta(days=30)
HORIZON_MONTHS = 3
BAND_Z = 2.576
MIN_CUSTOMERS = 30
SCORE_BANDS: tuple[int, ...] = (300, 500, 550, 600, 650)
"""Lower bounds of the score bands (a band runs up to the next bound; the last to 900)."""


def score_band(score: int) -> str:
    """The band a score falls in, e.g. ``550-599`` or ``650+``."""
    lower = SCORE_BANDS[0]
    for bound in SCORE_BANDS[1:]:
        if score < bound:
            return f"{lower}-{bound - 1}"
        lower = bound
    return f"{lower}+"


def bad_instant(event: PaymentEvent) -> datetime | None:
    """When this payment event shows the customer gone bad, if it does."""
    if event.kind == "chargeback" and event.status == "succeeded":
        return event.occurred_at
    if (
        event.kind == "repayment"
        and event.days_past_due is not None
        and event.days_past_due >= BAD_DAYS_PAST_DUE
    ):
        due = event.due_at or event.occurred_at - timedelta(days=event.days_past_due)
        return due + timedelta(days=BAD_DAYS_PAST_DUE)
    return None


@dataclass(frozen=True, slots=True)
class Entry:
    """A customer's first score: the cohort they belong to."""

    scored_at: datetime
    grade: Grade
    band: str
    probability_of_default: float


@dataclass(frozen=True, slots=True)
class VintageCell:
    """One cohort and one grade (or score band): its customers and their outcomes."""

    cohort: str
    segment: str
    customers: int
    predicted_pd: float
    curve: list[float]
    """Cumulative bad rate at months on book 1, 2, ... while observable."""
    observed: list[int]
    """Customers observed for each month on book of ``curve``."""

    @property
    def mature(self) -> bool:
        return len(self.curve) >= HORIZON_MONTHS

    @property
    def realised_bad_rate(self) -> float | None:
        if not self.curve:
            return None
        return self.curve[min(HORIZON_MONTHS, len(self.curve)) - 1]

    @property
    def band(self) -> tuple[float, float]:
        """The calibrated band ``(lower, upper)`` around the predicted PD."""
        p = self.predicted_pd
        half = BAND_Z * math.sqrt(max(p * (1.0 - p), 0.0) / max(self.customers, 1))
        return max(p - half, 0.0), min(p + half, 1.0)

    @property
    def judged(self) -> bool:
        return self.customers >= MIN_CUSTOMERS and self.realised_bad_rate is not None

    @property
    def outside_band(self) -> bool:
        """Whether the realised rate leaves the band: above it at any age, below it only
        once the cell is mature."""
        realised = self.realised_bad_rate
        if not self.judged or realised is None:
            return False
        lower, upper = self.band
        return realised > upper or (self.mature and realised < lower)

    def to_dict(self) -> dict[str, object]:
        lower, upper = self.band
        return {
            "cohort": self.cohort,
            "segment": self.segment,
            "customers": self.customers,
            "predicted_pd": self.predicted_pd,
            "realised_bad_rate": self.realised_bad_rate,
            "band_lower": lower,
            "band_upper": upper,
            "mature": self.mature,
            "outside_band": self.outside_band,
            "curve": self.curve,
            "observed": self.observed,
        }


class VintageBook:
    """Customers' cohort entries and first bad instants, fed record by record (a report
    feeds a period's records, the outcomes monitor its topics as they arrive)."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.bad_at: dict[str, datetime] = {}

    def add_score(self, record: ScoreRecord) -> None:
        """Counts the customer's first score (an earlier one replaces a later one)."""
        known = self.entries.get(record.customer_id)
        if known is None or record.scored_at < known.scored_at:
            self.entries[record.customer_id] = Entry(
                record.scored_at,
                record.grade,
                score_band(record.score),
                record.probability_of_default,
            )

    def add_payment(self, event: PaymentEvent) -> None:
        """Keeps the customer's first bad instant."""
        instant = bad_instant(event)
        if instant is None:
            return
        known = self.bad_at.get(event.customer_id)
        if known is None or instant < known:
            self.bad_at[event.customer_id] = instant

    def cells(self, as_of: datetime, by: str = "grade") -> list[VintageCell]:
        """Every (cohort, grade) cell (``by="band"``: per score band) as of ``as_of``,
        cohorts oldest first, grades S to D (bands low to high)."""
        grouped: dict[tuple[str, str], list[tuple[Entry, datetime | None]]] = defaultdict(list)
        for customer_id, entry in self.entries.items():
            if entry.scored_at > as_of:
                continue
            bad = self.bad_at.get(customer_id)
            # Bad before the cohort score: already in default when scored, not a vintage.
            if bad is not None and bad <= entry.scored_at:
                continue
            segment = entry.grade if by == "grade" else entry.band
            grouped[(entry.scored_at.strftime("%Y-%m"), segment)].append((entry, bad))
        order: dict[str, str] = {g: f"{i}" for i, g in enumerate(GRADES)}
        cells = []
        for (cohort, segment), members in sorted(
            grouped.items(), key=lambda item: (item[0][0], order.get(item[0][1], item[0][1]))
        ):
            curve, observed = _curve(members, as_of)
            cells.append(
                VintageCell(
                    cohort=cohort,
                    segment=segment,
                    customers=len(members),
                    predicted_pd=sum(e.probability_of_default for e, _ in members) / len(members),
                    curve=curve,
                    observed=observed,
                )
            )
        return cells


def _curve(
    members: Sequence[tuple[Entry, datetime | None]], as_of: datetime
) -> tuple[list[float], list[int]]:
    curve: list[float] = []
    observed: list[int] = []
    month = 1
    while True:
        seen = [(e, bad) for e, bad in members if e.scored_at + month * MONTH <= as_of]
        if not seen:
            return curve, observed
        went_bad = sum(
            1 for e, bad in seen if bad is not None and bad <= e.scored_at + month * MONTH
        )
        curve.append(went_bad / len(seen))
        observed.append(len(seen))
        month += 1


def build_book(scores: Iterable[ScoreRecord], payments: Iterable[PaymentEvent]) -> VintageBook:
    """A book from whole record lists (the report's path)."""
    book = VintageBook()
    for record in scores:
        book.add_score(record)
    for event in payments:
        book.add_payment(event)
    return book
