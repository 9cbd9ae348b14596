"""The chaos run's verdict: what the pipeline left in Kafka and Redis against what an offline
replay of the same events says it should have left.

Checks, each a count that must be 0:

- **ingest_refused**: answers of ingest other than 202 (503 while Kafka could not take an
  event, or no answer): with three brokers, losing one must go unnoticed by clients;
- **unapplied**: events ingest accepted with no feature update (never processed);
- **feature_mismatches**: customers whose feature state in Redis differs from an offline
  replay of every acknowledged event, applied once (so no event was lost or applied twice);
- **unscored**: feature updates without a score of the serving model;
- **missing_actions** / **unexpected_actions**: action ids the rules imply for the scores on
  ``risk.scores`` (judged in partition order from each customer's state before the stream,
  as the warning service judges them) and not issued, or issued and not implied;
- **conflicting_action_ids**: one action id delivered with different content (a redelivery
  must repeat the action, never change it);
- **state_mismatches**: customers whose warning state in Redis does not hold exactly the
  restrictions the replay leaves in force;
- **restricted_approved**: checkouts on credit approved for a customer while restricted: seen
  frozen or suspended (in Redis, or by the override that froze it) and not lifted since.

Redeliveries (the same action id twice, with the same content) are counted, not failed:
delivery is at least once and the order system applies an action id once.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bench.chaos.prober import Probe, answer_mix
from offline.replay import FeatureReplay
from schemas.actions import RiskAction
from schemas.events import InboundEvent
from schemas.scores import ScoreRecord
from services.features.core import CustomerState, compute_features
from services.scorer.core import score_id_of
from services.warning.core import (
    MANUAL_OVERRIDE_RULE_ID,
    Enforced,
    RuleSet,
    WarningState,
    evaluate,
)

LIFTS = frozenset({"unfreeze_credit", "reinstate_account"})
"""Actions after which a customer may be approved again."""
LIFT_MARGIN = timedelta(seconds=5)
"""A lift counts from this long before it was issued: the warning service stores the state
a moment after it issues the action, and an observation of the old state in between must
not make the approval that follows look like a violation."""


@dataclass(frozen=True, slots=True)
class Observed:
    """Everything the run left behind, collected once the pipeline is quiet."""

    events: Sequence[InboundEvent]
    """Events ingest accepted (answered 202)."""
    refused: Mapping[str, int]
    """Ingest's answers other than 202, by status (each such event was sent again)."""
    update_triggers: Sequence[str]
    """``triggered_by`` of every record on ``features.updates``."""
    scores: Sequence[ScoreRecord]
    """``risk.scores``, partition by partition in offset order."""
    actions: Sequence[RiskAction]
    """Every record on ``risk.actions``."""
    initial_states: Mapping[str, WarningState]
    """Warning states set before the stream began (the overrides)."""
    feature_states: Mapping[str, bytes | None]
    warning_states: Mapping[str, bytes | None]
    """Redis at the end, by customer."""
    probes: Sequence[Probe]
    restricted_seen: Mapping[str, Sequence[datetime]]
    """When each customer was seen restricted (sorted)."""
    model_version: str
    as_of: datetime


@dataclass(slots=True)
class Verdict:
    rounds: int
    faults: Counter[str]
    events: int
    customers: int
    updates: int
    scores: int
    actions: int
    redelivered_actions: int
    probes: int
    probe_answers: Counter[str]
    unapplied: int = 0
    feature_mismatches: int = 0
    unscored: int = 0
    missing_actions: int = 0
    unexpected_actions: int = 0
    conflicting_action_ids: int = 0
    state_mismatches: int = 0
    restricted_approved: int = 0
    ingest_refused: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    FAILURES = (
        "ingest_refused",
        "unapplied",
        "feature_mismatches",
        "unscored",
        "missing_actions",
        "unexpected_actions",
        "conflicting_action_ids",
        "state_mismatches",
        "restricted_approved",
    )

    @property
    def passed(self) -> bool:
        return all(getattr(self, name) == 0 for name in self.FAILURES)

    def line(self) -> str:
        """The one verdict line: PASS or FAIL, what was done, and every check's count."""
        faults = ",".join(f"{kind}:{n}" for kind, n in sorted(self.faults.items())) or "none"
        answers = ",".join(f"{kind}:{n}" for kind, n in sorted(self.probe_answers.items()))
        checks = " ".join(f"{name}={getattr(self, name)}" for name in self.FAILURES)
        return (
            f"CHAOS {'PASS' if self.passed else 'FAIL'} rounds={self.rounds} faults={faults} "
            f"events={self.events} customers={self.customers} updates={self.updates} "
            f"scores={self.scores} actions={self.actions} "
            f"redelivered_actions={self.redelivered_actions} probes={self.probes} "
            f"probe_answers={answers or 'none'} | {checks}"
        )


def verify(observed: Observed, rules: RuleSet, rounds: int, faults: Counter[str]) -> Verdict:
    customers = {event.customer_id for event in observed.events}
    distinct_actions = {action.action_id for action in observed.actions}
    verdict = Verdict(
        rounds=rounds,
        faults=faults,
        events=len({event.event_id for event in observed.events}),
        customers=len(customers),
        updates=len(observed.update_triggers),
        scores=len(observed.scores),
        actions=len(distinct_actions),
        redelivered_actions=len(observed.actions) - len(distinct_actions),
        probes=len(observed.probes),
        probe_answers=answer_mix(observed.probes),
    )
    _record(
        verdict,
        "ingest_refused",
        [f"{status}: {n} answers" for status, n in sorted(observed.refused.items())],
        count=sum(observed.refused.values()),
    )
    _record(verdict, "unapplied", unapplied_events(observed))
    _record(verdict, "feature_mismatches", feature_mismatches(observed))
    _record(verdict, "unscored", unscored_updates(observed))
    expected_actions, final_states = replay_warning(observed, rules)
    missing, unexpected = action_differences(observed.actions, expected_actions)
    _record(verdict, "missing_actions", missing)
    _record(verdict, "unexpected_actions", unexpected)
    _record(verdict, "conflicting_action_ids", conflicting_action_ids(observed.actions))
    _record(verdict, "state_mismatches", state_mismatches(observed.warning_states, final_states))
    approved = restricted_approvals(observed.probes, observed.restricted_seen, observed.actions)
    _record(verdict, "restricted_approved", [f"{p.customer_id}@{p.at:.3f}" for p in approved])
    return verdict


def _record(
    verdict: Verdict, check: str, failures: Sequence[str], count: int | None = None
) -> None:
    setattr(verdict, check, len(failures) if count is None else count)
    if failures:
        verdict.examples[check] = sorted(failures)[:5]


def unapplied_events(observed: Observed) -> list[str]:
    triggers = set(observed.update_triggers)
    return sorted({e.event_id for e in observed.events if e.event_id not in triggers})


def feature_mismatches(observed: Observed) -> list[str]:
    replay = FeatureReplay()
    for event in sorted(observed.events, key=lambda e: e.occurred_at):
        replay.apply(event)
    wrong: list[str] = []
    for customer in replay.states():
        stored = observed.feature_states.get(customer)
        if stored is None or compute_features(
            CustomerState.from_bytes(stored), observed.as_of
        ) != replay.features(customer, observed.as_of):
            wrong.append(customer)
    return wrong


def unscored_updates(observed: Observed) -> list[str]:
    scored = {score.score_id for score in observed.scores}
    return sorted(
        {
            trigger
            for trigger in observed.update_triggers
            if score_id_of(trigger, observed.model_version) not in scored
        }
    )


def replay_warning(
    observed: Observed, rules: RuleSet
) -> tuple[list[RiskAction], dict[str, WarningState]]:
    """What the rules issue for the scores, in topic order, each judged at its own
    ``scored_at`` from the customer's state before the stream (the rules' waiting times are
    hours, far longer than a run, so judging at the scoring instant rather than the
    processing instant changes nothing). The overrides' own actions are expected too."""
    states: dict[str, WarningState] = dict(observed.initial_states)
    expected = [a for a in observed.actions if a.rule_id == MANUAL_OVERRIDE_RULE_ID]
    for record in observed.scores:
        evaluation = evaluate(rules, states.get(record.customer_id), record, record.scored_at)
        states[record.customer_id] = evaluation.state
        expected.extend(evaluation.actions)
    return expected, states


def action_differences(
    actual: Sequence[RiskAction], expected: Sequence[RiskAction]
) -> tuple[list[str], list[str]]:
    """(implied but never issued, issued but never implied), by action id."""
    actual_ids = {action.action_id for action in actual}
    expected_ids = {action.action_id for action in expected}
    return sorted(expected_ids - actual_ids), sorted(actual_ids - expected_ids)


def conflicting_action_ids(actions: Sequence[RiskAction]) -> list[str]:
    """Action ids delivered more than once with different content (the instant of issue
    and the reason text aside, which a redelivery may restate)."""
    seen: dict[str, tuple[object, ...]] = {}
    conflicts: set[str] = set()
    for action in actions:
        content = (
            action.customer_id,
            action.action,
            action.rule_id,
            action.rule_version,
            action.credit_limit,
            action.triggered_by,
        )
        if seen.setdefault(action.action_id, content) != content:
            conflicts.add(action.action_id)
    return sorted(conflicts)


def state_mismatches(
    stored: Mapping[str, bytes | None], expected: Mapping[str, WarningState]
) -> list[str]:
    """Customers whose stored warning state does not hold the replay's restrictions (the
    action ids of the holds, and so status and limit)."""
    wrong: list[str] = []
    for customer, state in expected.items():
        raw = stored.get(customer)
        if raw is None:
            wrong.append(customer)
            continue
        held = WarningState.from_json(raw)
        if _holds(held) != _holds(state) or Enforced.of(held.holds) != Enforced.of(state.holds):
            wrong.append(customer)
    return wrong


def _holds(state: WarningState) -> set[str]:
    return {hold.action_id for hold in state.holds}


def restricted_approvals(
    probes: Sequence[Probe],
    restricted_seen: Mapping[str, Sequence[datetime]],
    actions: Sequence[RiskAction],
) -> list[Probe]:
    """Approvals given while the customer was restricted: seen restricted at or before the
    probe, with no lift issued from shortly before that sighting up to the probe."""
    lifts: dict[str, list[datetime]] = {}
    for action in actions:
        if action.action in LIFTS:
            lifts.setdefault(action.customer_id, []).append(action.issued_at)
    violations: list[Probe] = []
    for probe in probes:
        if probe.decision != "approve":
            continue
        at = datetime.fromtimestamp(probe.at, tz=UTC)
        sightings = restricted_seen.get(probe.customer_id, ())
        index = bisect_right(sightings, at)
        if index == 0:
            continue
        since = sightings[index - 1] - LIFT_MARGIN
        if not any(since <= lift <= at for lift in lifts.get(probe.customer_id, ())):
            violations.append(probe)
    return violations
