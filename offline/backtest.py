"""Backtest a rule set before anyone deploys it: an event log replayed through the same
feature core, model and rule engine as production, against a baseline rule set.

Events are replayed in ``occurred_at`` order (:class:`FeatureReplay`); each applied event
gives the features the streaming worker would have published, the model scores them as the
streaming scorer does (:func:`score_rows`, :func:`score_record`), and both rule sets judge
every score with their own per-customer states. Time inside the replay is event time: a
score is stamped at its event's ``occurred_at``, so hysteresis and cooldowns play out as
they would have live. No Kafka, no Redis.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from offline.replay import FeatureReplay
from riskmodel.loading import LoadedModel, open_bundle
from schemas.actions import AccountStatus
from schemas.events import InboundEvent
from schemas.features import FEATURE_SCHEMA, FeatureUpdate, to_model_row
from schemas.scores import GRADES, Grade, ScoreRecord
from services.features.core import ApplyOutcome
from services.scorer.core import ServedModel, score_record, score_rows
from services.warning.core import RuleSet, WarningState, evaluate

SCORING_CHUNK = 1_024
"""Feature rows scored per model run."""


def load_model(bundle: Path) -> LoadedModel:
    """Opens and gates a bundle directory as the scorer does, for this build's feature
    schema; raises :class:`riskmodel.errors.GateRefusedError` if it must not serve."""
    return open_bundle(bundle, FEATURE_SCHEMA)


@dataclass(frozen=True, slots=True)
class ActionCount:
    """How often one rule took one action, and for how many distinct customers."""

    rule_id: str
    action: str
    severity: str
    count: int
    customers: int


@dataclass(slots=True)
class RuleSetOutcome:
    """What one rule set did over the replay."""

    version: str
    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    customers: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)
    states: dict[str, WarningState] = field(default_factory=dict)

    def judge(self, rules: RuleSet, record: ScoreRecord) -> None:
        previous = self.states.get(record.customer_id)
        evaluation = evaluate(rules, previous, record, record.scored_at)
        self.states[record.customer_id] = evaluation.state
        for action in evaluation.actions:
            key = (action.rule_id, action.action, action.severity)
            self.counts[key] += 1
            self.customers.setdefault(key, set()).add(action.customer_id)

    def action_counts(self) -> list[ActionCount]:
        """Every (rule, action) taken, in order of count, then rule and action."""
        rows = [
            ActionCount(*key, count=count, customers=len(self.customers[key]))
            for key, count in self.counts.items()
        ]
        return sorted(rows, key=lambda row: (-row.count, row.rule_id, row.action))

    def final_statuses(self) -> dict[AccountStatus, int]:
        """Customers by account status at the end of the replay."""
        statuses: Counter[AccountStatus] = Counter(s.status for s in self.states.values())
        return {status: statuses[status] for status in ("active", "limited", "frozen", "suspended")}

    def customers_acted_on(self) -> set[str]:
        return set().union(*self.customers.values()) if self.customers else set()


@dataclass(frozen=True, slots=True)
class ActionDifference:
    """One (rule, action) whose count differs between the candidate and the baseline."""

    rule_id: str
    action: str
    candidate: int
    baseline: int

    @property
    def change(self) -> int:
        return self.candidate - self.baseline


@dataclass(frozen=True, slots=True)
class BacktestReport:
    """The outcome of a backtest; :meth:`as_dict` is its JSON form."""

    events: int
    events_applied: int
    scores: int
    unscorable: int
    model_version: str
    customers_by_grade: dict[Grade, int]
    scores_by_grade: dict[Grade, int]
    candidate: RuleSetOutcome
    baseline: RuleSetOutcome

    def differences(self) -> list[ActionDifference]:
        """(rule, action) pairs whose counts differ, largest change first."""
        candidate = Counter({(r, a): c for (r, a, _), c in self.candidate.counts.items()})
        baseline = Counter({(r, a): c for (r, a, _), c in self.baseline.counts.items()})
        rows = [
            ActionDifference(key[0], key[1], candidate[key], baseline[key])
            for key in sorted(set(candidate) | set(baseline))
            if candidate[key] != baseline[key]
        ]
        return sorted(rows, key=lambda row: (-abs(row.change), row.rule_id, row.action))

    def as_dict(self) -> dict[str, Any]:
        def outcome(result: RuleSetOutcome) -> dict[str, Any]:
            return {
                "version": result.version,
                "actions": [
                    {
                        "rule_id": row.rule_id,
                        "action": row.action,
                        "severity": row.severity,
                        "count": row.count,
                        "customers": row.customers,
                    }
                    for row in result.action_counts()
                ],
                "customers_acted_on": len(result.customers_acted_on()),
                "final_status": result.final_statuses(),
            }

        candidate_customers = self.candidate.customers_acted_on()
        baseline_customers = self.baseline.customers_acted_on()
        return {
            "events": self.events,
            "events_applied": self.events_applied,
            "scores": self.scores,
            "unscorable": self.unscorable,
            "model_version": self.model_version,
            "customers_by_grade": self.customers_by_grade,
            "scores_by_grade": self.scores_by_grade,
            "candidate": outcome(self.candidate),
            "baseline": outcome(self.baseline),
            "difference": {
                "actions": [
                    {
                        "rule_id": row.rule_id,
                        "action": row.action,
                        "candidate": row.candidate,
                        "baseline": row.baseline,
                        "change": row.change,
                    }
                    for row in self.differences()
                ],
                "customers_only_candidate": len(candidate_customers - baseline_customers),
                "customers_only_baseline": len(baseline_customers - candidate_customers),
            },
        }


def run_backtest(
    events: Iterable[InboundEvent], model: ServedModel, rules: RuleSet, baseline: RuleSet
) -> BacktestReport:
    """Replays ``events`` (any order; sorted by ``occurred_at`` here, ties in input order)
    and judges every score with ``rules`` and ``baseline``."""
    ordered = sorted(events, key=lambda event: event.occurred_at)
    replay = FeatureReplay()
    candidate = RuleSetOutcome(rules.version)
    reference = RuleSetOutcome(baseline.version)
    last_grades: dict[str, Grade] = {}
    scores_by_grade: Counter[Grade] = Counter()
    applied = scored = unscorable = 0
    pending: list[FeatureUpdate] = []

    def flush() -> None:
        nonlocal scored, unscorable
        if not pending:
            return
        rows = np.asarray([to_model_row(update.features) for update in pending], np.float64)
        verdicts = score_rows(model, rows)
        for update, verdict in zip(pending, verdicts, strict=True):
            if verdict is None:
                unscorable += 1
                continue
            record = score_record(update, verdict, model.version, update.as_of)
            scored += 1
            scores_by_grade[record.grade] += 1
            last_grades[record.customer_id] = record.grade
            candidate.judge(rules, record)
            reference.judge(baseline, record)
        pending.clear()

    for event in ordered:
        if replay.apply(event) is not ApplyOutcome.APPLIED:
            continue
        applied += 1
        pending.append(_update(event, replay.features(event.customer_id, event.occurred_at)))
        if len(pending) >= SCORING_CHUNK:
            flush()
    flush()
    final_grades = Counter(last_grades.values())
    return BacktestReport(
        events=len(ordered),
        events_applied=applied,
        scores=scored,
        unscorable=unscorable,
        model_version=model.version,
        customers_by_grade={grade: final_grades[grade] for grade in GRADES},
        scores_by_grade={grade: scores_by_grade[grade] for grade in GRADES},
        candidate=candidate,
        baseline=reference,
    )


def _update(event: InboundEvent, features: dict[str, float | None]) -> FeatureUpdate:
    return FeatureUpdate(
        customer_id=event.customer_id,
        feature_schema_version=FEATURE_SCHEMA.version,
        as_of=event.occurred_at,
        features=features,
        triggered_by=event.event_id,
        trigger_event_type=event.event_type,
        event_occurred_at=event.occurred_at,
    )
