"""Dormant customers re-judged: the pure part of the scheduler that re-scores customers
whose windows have moved since their last event (:mod:`services.scorer.rescoring` runs it).

A customer who stops trading keeps the features of their last event until something
scores them again, and so keeps any restriction whose exit waits for a window to empty
("no failed payment for 7 days"). Once a day each partition's customers are re-scored at
that partition's *run instant* (its share of the day, so partitions spread over it): the
features for windows ending at that instant, the served model's verdict, and a score on
``risk.scores`` like any other, which the warning service judges as usual; a reversal due
to elapsed time then happens without a new event.

Everything derives from (customer, day): the run instant, the features (the feature state
of a dormant customer does not change), ``triggered_by`` and so ``score_id`` and the
warning service's action ids. A run repeated for the same day (a restart, a partition that
moved between two instances) yields the same scores with the same ids, which the warning
service recognises and skips.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

from schemas.scores import Counterfactual, ScoreRecord
from services.scorer.core.verdicts import RowScore, scored_record

DAY: Final = timedelta(days=1)


def run_instant(day: date, partition: int, partitions: int) -> datetime:
    """The instant ``partition``'s customers are re-scored on ``day``: partition ``p`` of
    ``n`` at ``p/n`` of the day (UTC), so the day's work is spread over it."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start + DAY * partition / partitions


def due_day(now: datetime, partition: int, partitions: int) -> date:
    """The latest day whose run instant for ``partition`` is at or before ``now``."""
    today = now.astimezone(UTC).date()
    if run_instant(today, partition, partitions) <= now:
        return today
    return today - DAY


def rescore_trigger(customer_id: str, day: date) -> str:
    """``triggered_by`` of a customer's re-score for ``day``: the same each time."""
    return f"rescore:{day.isoformat()}:{customer_id}"


class Dormancy:
    """Which customers a run re-scores, given their last event."""

    ACTIVE = "active"
    """An event within ``dormant_after``: their own scores are recent enough."""
    EXPIRED = "expired"
    """No event within ``horizon``: every window was already empty at an earlier run."""
    DUE = "due"


def dormancy(
    last_event_at: datetime, at: datetime, dormant_after: timedelta, horizon: timedelta
) -> str:
    """:class:`Dormancy` of a customer whose last event is ``last_event_at``, at ``at``."""
    quiet = at - last_event_at
    if quiet < dormant_after:
        return Dormancy.ACTIVE
    if quiet > horizon:
        return Dormancy.EXPIRED
    return Dormancy.DUE


@dataclass(frozen=True, slots=True)
class Rescore:
    """One customer's re-score: the features at the run instant and what went with them."""

    customer_id: str
    features: Mapping[str, float | None]
    last_event_at: datetime
    locale: str | None


def rescore_record(
    rescore: Rescore,
    verdict: RowScore,
    model_version: str,
    feature_schema_version: int,
    day: date,
    at: datetime,
    improvements: Sequence[Counterfactual] = (),
) -> ScoreRecord:
    """The ``risk.scores`` record of a re-score for ``day`` at its run instant ``at``
    (``scored_at`` and ``features_as_of``); no event triggered it."""
    return scored_record(
        customer_id=rescore.customer_id,
        verdict=verdict,
        model_version=model_version,
        feature_schema_version=feature_schema_version,
        features=rescore.features,
        features_as_of=at,
        triggered_by=rescore_trigger(rescore.customer_id, day),
        trigger_event_type=None,
        event_occurred_at=rescore.last_event_at,
        scored_at=at,
        locale=rescore.locale,
        improvements=improvements,
    )


@dataclass(slots=True)
class RunSummary:
    """What one run over one partition did (a metric and a ``rescore.run`` audit record,
    which the portfolio report shows)."""

    partition: int
    day: date
    at: datetime
    rescored: int = 0
    active: int = 0
    expired: int = 0
    unreadable: int = 0
    unscorable: int = 0
    seconds: float = 0.0

    @property
    def looked_at(self) -> int:
        return self.rescored + self.active + self.expired + self.unreadable + self.unscorable

    def details(self) -> dict[str, object]:
        return {
            "partition": self.partition,
            "day": self.day.isoformat(),
            "run_instant": self.at.isoformat(),
            "customers": self.looked_at,
            "rescored": self.rescored,
            "active": self.active,
            "expired": self.expired,
            "unreadable": self.unreadable,
            "unscorable": self.unscorable,
            "seconds": round(self.seconds, 3),
        }
