"""The portfolio risk report, as pure aggregation over the records of one period: the
scores (``risk.scores``), the actions (``risk.actions``), the administrative trail
(``risk.audit``) and, when known, each customer's outcome.

Definitions (the report states them too):

- A customer's *opening* grade is the grade of their first score in the period, the
  *closing* grade that of their last; the grade mix counts customers, not scores.
- *Bad rate by grade*: among customers with a known outcome, the share who went bad, by
  the grade of their last score before going bad (good customers: their closing grade).
  Customers bad before their first score in the period are left out.
- *Frozen* customers received ``freeze_credit`` or ``suspend_account`` in the period;
  *restored* ones ``unfreeze_credit`` or ``reinstate_account``; *still restricted* ones
  had a freeze or suspension as their last such action.
- *Drift*: the PSI of the closing score distribution against the opening one, on the
  opening scores' deciles (0.1 to 0.25 a moderate shift, above 0.25 a large one).
- *Decision quality at thresholds*: the decisions of the score API in the period
  (``risk.decisions``) whose customer has a known outcome, each positive when the customer
  went bad within :data:`DECISION_HORIZON` after it; decisions taken after the customer
  went bad are left out. At the review, prepay and decline thresholds a decision flags the
  customer when it is at least that severe (``riskmodel.quality``): confusion matrix,
  precision, recall and F1.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from riskmodel.drift import population_stability
from riskmodel.quality import ThresholdQuality, threshold_quality
from schemas.actions import RiskAction
from schemas.decisions import DecisionRecord
from schemas.records import AuditRecord
from schemas.scores import GRADES, Decision, Grade, ScoreRecord
from services.reporting.errors import ReportingError

RESTRICTING = frozenset({"freeze_credit", "suspend_account"})
RESTORING = frozenset({"unfreeze_credit", "reinstate_account"})
MODEL_OPERATIONS = frozenset(
    {
        "model.publish",
        "model.activate",
        "model.rollback",
        "model.rollback.emergency",
        "model.shadow",
    }
)
RESCORE_OPERATION = "rescore.run"
"""Audit operation of a run of the dormant-customer scheduler (one partition, one day)."""
TOP_REASONS = 10
DRIFT_BINS = 10
DECISION_HORIZON = timedelta(days=90)
"""A decision is judged right or wrong by what the customer did in the 90 days after it,
the horizon the model is trained on."""


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)``: records at or after ``start`` and before ``end``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ReportingError("the period's bounds need a time zone")
        if self.end <= self.start:
            raise ReportingError(f"the period ends ({self.end}) before it starts ({self.start})")

    def __contains__(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


@dataclass(frozen=True, slots=True)
class GradeRow:
    """One grade's line of the grade-mix and bad-rate tables."""

    grade: Grade
    opening: int
    closing: int
    opening_share: float
    closing_share: float
    known_outcomes: int
    bad: int

    @property
    def share_change(self) -> float:
        return self.closing_share - self.opening_share

    @property
    def bad_rate(self) -> float | None:
        return self.bad / self.known_outcomes if self.known_outcomes else None


@dataclass(frozen=True, slots=True)
class ModelUsage:
    """A model version that answered in the period."""

    model_version: str
    scores: int
    first_scored_at: datetime
    last_scored_at: datetime


@dataclass(frozen=True, slots=True)
class WeekRow:
    """Scores of one ISO week (starting Monday) and their grade counts."""

    week_start: date
    scores: int
    grades: dict[Grade, int]


@dataclass(frozen=True, slots=True)
class PortfolioReport:
    """Everything the report shows; :meth:`to_dict` is its JSON form."""

    period: Period
    customers_scored: int
    scores: int
    grades: list[GradeRow]
    migrations: dict[Grade, dict[Grade, int]]
    weeks: list[WeekRow]
    actions_by_type: dict[str, int]
    actions_by_severity: dict[str, int]
    actions_by_rule: dict[str, int]
    customers_frozen: int
    customers_restored: int
    customers_still_restricted: int
    top_reasons: list[tuple[str, int]]
    score_psi: float | None
    models: list[ModelUsage]
    model_changes: list[AuditRecord]
    outcomes_known: bool
    notes: list[str] = field(default_factory=list)
    decisions: int = 0
    """Decisions of the score API in the period."""
    decisions_judged: int = 0
    """Of those, the ones with a known outcome (the decision-quality population)."""
    decision_quality: list[ThresholdQuality] = field(default_factory=list)
    rescore_runs: list[AuditRecord] = field(default_factory=list)
    """Runs of the dormant-customer scheduler in the period (``rescore.run``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": {"from": self.period.start.isoformat(), "to": self.period.end.isoformat()},
            "customers_scored": self.customers_scored,
            "scores": self.scores,
            "grades": [
                {
                    "grade": row.grade,
                    "opening": row.opening,
                    "closing": row.closing,
                    "opening_share": row.opening_share,
                    "closing_share": row.closing_share,
                    "share_change": row.share_change,
                    "known_outcomes": row.known_outcomes,
                    "bad": row.bad,
                    "bad_rate": row.bad_rate,
                }
                for row in self.grades
            ],
            "migrations": self.migrations,
            "weeks": [
                {"week_start": w.week_start.isoformat(), "scores": w.scores, "grades": w.grades}
                for w in self.weeks
            ],
            "actions": {
                "by_type": self.actions_by_type,
                "by_severity": self.actions_by_severity,
                "by_rule": self.actions_by_rule,
            },
            "customers": {
                "frozen": self.customers_frozen,
                "restored": self.customers_restored,
                "still_restricted": self.customers_still_restricted,
            },
            "top_reasons": [{"code": code, "count": count} for code, count in self.top_reasons],
            "drift": {"score_psi_closing_vs_opening": self.score_psi},
            "models": [
                {
                    "model_version": m.model_version,
                    "scores": m.scores,
                    "first_scored_at": m.first_scored_at.isoformat(),
                    "last_scored_at": m.last_scored_at.isoformat(),
                }
                for m in self.models
            ],
            "model_changes": [
                {
                    "at": a.at.isoformat(),
                    "operation": a.operation,
                    "subject": a.subject,
                    "actor": a.actor,
                    "reason": a.reason,
                }
                for a in self.model_changes
            ],
            "outcomes_known": self.outcomes_known,
            "decision_quality": {
                "decisions": self.decisions,
                "judged": self.decisions_judged,
                "horizon_days": DECISION_HORIZON.days,
                "thresholds": [quality.to_dict() for quality in self.decision_quality],
            },
            "rescore_runs": [{"at": a.at.isoformat(), **a.details} for a in self.rescore_runs],
            "notes": self.notes,
        }


def _share(count: int, total: int) -> float:
    return count / total if total else 0.0


def _deciles(values: Sequence[float]) -> list[float]:
    """Ascending distinct inner cut points at the deciles of ``values``."""
    ordered = sorted(values)
    cuts = {ordered[min(len(ordered) - 1, (len(ordered) * k) // DRIFT_BINS)] for k in range(1, 10)}
    return sorted(cuts)


def score_shift(opening: Sequence[float], closing: Sequence[float]) -> float | None:
    """PSI of ``closing`` scores against ``opening`` ones on the opening deciles; None when
    either side is empty."""
    if not opening or not closing:
        return None
    edges = _deciles(opening)

    def shares(values: Sequence[float]) -> list[float]:
        counts = [0] * (len(edges) + 1)
        for value in values:
            counts[sum(1 for edge in edges if edge <= value)] += 1
        return [c / len(values) for c in counts]

    return population_stability(shares(opening), shares(closing))


def build_report(
    period: Period,
    scores: Iterable[ScoreRecord],
    actions: Iterable[RiskAction],
    audit: Iterable[AuditRecord] = (),
    outcomes: Mapping[str, datetime | None] | None = None,
    decisions: Iterable[DecisionRecord] = (),
) -> PortfolioReport:
    """The report of ``period`` from records that may span more (those outside are left
    out); ``outcomes`` maps customer ids to the instant they went bad (None: never),
    and gives the bad-rate table and, with ``decisions``, the decision quality."""
    in_period = sorted((s for s in scores if s.scored_at in period), key=lambda s: s.scored_at)
    by_customer: dict[str, list[ScoreRecord]] = defaultdict(list)
    for record in in_period:
        by_customer[record.customer_id].append(record)
    opening = {c: history[0] for c, history in by_customer.items()}
    closing = {c: history[-1] for c, history in by_customer.items()}
    opening_counts = Counter(s.grade for s in opening.values())
    closing_counts = Counter(s.grade for s in closing.values())
    customers = len(by_customer)

    known: Counter[Grade] = Counter()
    bad: Counter[Grade] = Counter()
    notes: list[str] = []
    if outcomes is not None:
        skipped = 0
        for customer_id, history in by_customer.items():
            if customer_id not in outcomes:
                continue
            bad_at = outcomes[customer_id]
            if bad_at is None:
                known[history[-1].grade] += 1
                continue
            before = [s for s in history if s.scored_at < bad_at]
            if not before:
                skipped += 1
                continue
            known[before[-1].grade] += 1
            bad[before[-1].grade] += 1
        if skipped:
            notes.append(f"{skipped} customers went bad before their first score in the period")

    grades = [
        GradeRow(
            grade=grade,
            opening=opening_counts[grade],
            closing=closing_counts[grade],
            opening_share=_share(opening_counts[grade], customers),
            closing_share=_share(closing_counts[grade], customers),
            known_outcomes=known[grade],
            bad=bad[grade],
        )
        for grade in GRADES
    ]
    migrations: dict[Grade, dict[Grade, int]] = {g: dict.fromkeys(GRADES, 0) for g in GRADES}
    for customer_id, first in opening.items():
        migrations[first.grade][closing[customer_id].grade] += 1

    weeks: dict[date, Counter[Grade]] = defaultdict(Counter)
    for record in in_period:
        day = record.scored_at.date()
        weeks[day - timedelta(days=day.weekday())][record.grade] += 1
    week_rows = [
        WeekRow(start, sum(counts.values()), {g: counts[g] for g in GRADES})
        for start, counts in sorted(weeks.items())
    ]

    period_actions = sorted(
        (a for a in actions if a.issued_at in period), key=lambda a: a.issued_at
    )
    last_restriction: dict[str, str] = {}
    frozen: set[str] = set()
    restored: set[str] = set()
    for action in period_actions:
        if action.action in RESTRICTING:
            frozen.add(action.customer_id)
            last_restriction[action.customer_id] = action.action
        elif action.action in RESTORING:
            restored.add(action.customer_id)
            last_restriction[action.customer_id] = action.action
    still = sum(1 for a in last_restriction.values() if a in RESTRICTING)

    reasons: Counter[str] = Counter(
        record.reasons[0].code for record in in_period if record.reasons
    )
    usage: dict[str, list[ScoreRecord]] = defaultdict(list)
    for record in in_period:
        usage[record.model_version].append(record)
    models = [
        ModelUsage(version, len(records), records[0].scored_at, records[-1].scored_at)
        for version, records in sorted(usage.items(), key=lambda item: item[1][0].scored_at)
    ]
    changes = sorted(
        (a for a in audit if a.at in period and a.operation in MODEL_OPERATIONS),
        key=lambda a: a.at,
    )
    period_decisions = [d for d in decisions if d.decided_at in period]
    judged = judged_decisions(period_decisions, outcomes) if outcomes is not None else []
    psi = score_shift(
        [float(s.score) for s in opening.values()], [float(s.score) for s in closing.values()]
    )
    if psi is not None and not math.isfinite(psi):
        psi = None
    return PortfolioReport(
        period=period,
        customers_scored=customers,
        scores=len(in_period),
        grades=grades,
        migrations=migrations,
        weeks=week_rows,
        actions_by_type=dict(Counter(a.action for a in period_actions).most_common()),
        actions_by_severity=dict(Counter(a.severity for a in period_actions).most_common()),
        actions_by_rule=dict(Counter(a.rule_id for a in period_actions).most_common()),
        customers_frozen=len(frozen),
        customers_restored=len(restored),
        customers_still_restricted=still,
        top_reasons=reasons.most_common(TOP_REASONS),
        score_psi=psi,
        models=models,
        model_changes=changes,
        outcomes_known=outcomes is not None,
        notes=notes,
        decisions=len(period_decisions),
        decisions_judged=len(judged),
        decision_quality=threshold_quality(judged) if judged else [],
        rescore_runs=sorted(
            (a for a in audit if a.at in period and a.operation == RESCORE_OPERATION),
            key=lambda a: a.at,
        ),
    )


def judged_decisions(
    decisions: Iterable[DecisionRecord], outcomes: Mapping[str, datetime | None]
) -> list[tuple[Decision, bool]]:
    """``(decision, went bad within the horizon)`` for every decision whose customer has a
    known outcome and was not already bad when it was taken (one per decision id)."""
    judged: dict[str, tuple[Decision, bool]] = {}
    for record in decisions:
        if record.customer_id not in outcomes:
            continue
        bad_at = outcomes[record.customer_id]
        if bad_at is not None and bad_at <= record.decided_at:
            continue
        went_bad = bad_at is not None and bad_at <= record.decided_at + DECISION_HORIZON
        judged[record.decision_id] = (record.answer.decision, went_bad)
    return list(judged.values())
