"""The per-customer warning state machine: scores in, graded and reversible actions out.

Every rule is a small state machine per customer: **inactive** until its ``when`` holds,
then **active** (its entry actions issued) until its exit condition has held on every score
for ``min_hours_in_state`` hours, then inactive again (its ``on_exit`` reversals issued).
A rule does not enter again within ``cooldown_hours`` of its last entry. An active rule
with ``escalate`` brings its target rule in once the escalation condition holds and the
rule has been active ``after_hours``.

Restrictions leave holds on the customer (:mod:`services.warning.core.state`); a reversal
is issued only when it changes what the order system enforces.

Everything is a pure function of its inputs. Time inside a decision is the score's
``scored_at``, never the wall clock, and ``action_id`` is a UUIDv5 of (customer, rule,
rule version, action, triggering event): replaying the same scores from the same state
yields the same actions with the same ids.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from schemas.actions import ActionType, ActiveAction, RiskAction
from schemas.scores import Grade, RiskLevel, ScoreRecord
from services.common.texts import customer_language, texts_for
from services.warning.core.case_record import ReviewCase
from services.warning.core.cases import case_id, open_rule_case, with_case
from services.warning.core.expressions import Condition, Value
from services.warning.core.notices import Environment, with_notices
from services.warning.core.rules import RESTRICTIONS, REVERSALS, ActionSpec, Rule, RuleSet
from services.warning.core.state import (
    Enforced,
    Evaluation,
    RuleActivation,
    WarningState,
    action_id,
)
from services.warning.errors import StateError


def evaluate(
    rules: RuleSet, state: WarningState | None, record: ScoreRecord, now: datetime
) -> Evaluation:
    """Judges one score against the rules, given the customer's state (None: unseen).

    Order within one score: active rules exit (file order), inactive rules enter (file
    order; a rule that just exited does not re-enter on the same score), then escalations
    run until none fires. ``now`` (processing time) only stamps ``updated_at``; decisions
    and ``issued_at`` use ``record.scored_at``. Raises :class:`StateError` when the state
    belongs to another customer.
    """
    previous = state if state is not None else WarningState(customer_id=record.customer_id)
    if previous.customer_id != record.customer_id:
        raise StateError(
            f"state of customer {previous.customer_id!r} given for {record.customer_id!r}"
        )
    if previous.last_scored_at is not None and (
        record.score_id == previous.last_score_id or record.scored_at < previous.last_scored_at
    ):
        return Evaluation([], previous, skipped=True)
    run = _Run(rules, previous, record)
    run.exit_rules()
    run.enter_rules()
    run.escalate_rules()
    state = run.finish(now)
    texts = texts_for(customer_language(state.locale))
    actions = with_notices(run.actions, rules, record, run.environment, texts)
    return Evaluation(actions, state)


def _hours(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 3600


def _format(value: Value) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.4g}"
    return str(value)


def environments(record: ScoreRecord, state: WarningState) -> Environment:
    """The condition variables of ``record`` judged against ``state`` (rules.BASE_VARIABLES
    plus the features; a NaN feature reads as null), given the features, grade and score:
    ``environments(record, state)(features, grade, score)`` is the environment of the
    record with those three replaced (by a counterfactual's or a candidate row's), and of
    the record itself when they are its own. What none of them changes is worked out once.
    """
    last_score = state.last_score
    unchanged: dict[str, Value] = {
        "risk_level": record.risk_level,
        "probability_of_default": record.probability_of_default,
        "previous_score": last_score,
        "previous_grade": state.last_grade,
        "event_type": record.trigger_event_type,
        "status": state.status,
        "credit_limit": record.credit_limit,
        "hours_in_status": 0.0
        if state.status_since is None
        else _hours(record.scored_at, state.status_since),
    }

    def environment(
        features: Mapping[str, float | None], grade: Grade, score: int
    ) -> dict[str, Value]:
        env: dict[str, Value] = {
            name: None if value is None or math.isnan(value) else value
            for name, value in features.items()
        }
        env.update(unchanged)
        env["score"] = score
        env["grade"] = grade
        env["score_change"] = None if last_score is None else score - last_score
        return env

    return environment


@dataclass
class _Run:
    """The mutable working copy of one evaluation."""

    rules: RuleSet
    previous: WarningState
    record: ScoreRecord
    environment: Environment = field(init=False)
    env: Mapping[str, Value] = field(init=False)
    holds: list[ActiveAction] = field(init=False)
    activations: dict[str, RuleActivation] = field(init=False)
    last_entered: dict[str, datetime] = field(init=False)
    exited: set[str] = field(default_factory=set)
    actions: list[RiskAction] = field(default_factory=list)
    cases: list[ReviewCase] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.environment = environments(self.record, self.previous)
        # The rules read a few of the many features: only those enter the environment.
        features = self.record.features
        read = {name: features[name] for name in self.rules.names if name in features}
        self.env = self.environment(read, self.record.grade, self.record.score)
        self.holds = list(self.previous.holds)
        self.activations = {a.rule_id: a for a in self.previous.activations}
        self.last_entered = dict(self.previous.last_entered)

    @property
    def at(self) -> datetime:
        return self.record.scored_at

    def exit_rules(self) -> None:
        for rule in self.rules.rules:
            activation = self.activations.get(rule.id)
            if activation is None:
                continue
            if not rule.exit_condition(self.env):
                self.activations[rule.id] = activation.model_copy(update={"exit_since": None})
                continue
            since = activation.exit_since or self.at
            held = _hours(self.at, since)
            if held >= rule.min_hours_in_state:
                self._exit(rule, held)
            else:
                self.activations[rule.id] = activation.model_copy(update={"exit_since": since})

    def enter_rules(self) -> None:
        for rule in self.rules.rules:
            if rule.when is None or not self._may_enter(rule):
                continue
            if rule.when(self.env):
                self._enter(rule, self._explain(rule.when))

    def escalate_rules(self) -> None:
        """Repeats until no escalation fires; each pass enters at least one more rule and
        a rule enters at most once per score, so it ends."""
        fired = True
        while fired:
            fired = False
            for rule in self.rules.rules:
                activation = self.activations.get(rule.id)
                escalation = rule.escalate
                if activation is None or escalation is None:
                    continue
                target = self.rules.rule(escalation.target)
                if target is None or not self._may_enter(target):
                    continue
                active_for = _hours(self.at, activation.entered_at)
                if active_for >= escalation.after_hours and escalation.condition(self.env):
                    reason = (
                        f"escalated from {rule.id} after {_format(active_for)} h; "
                        f"{self._explain(escalation.condition)}"
                    )
                    self._enter(target, reason, escalated_from=rule.id)
                    fired = True

    def _may_enter(self, rule: Rule) -> bool:
        if rule.id in self.activations or rule.id in self.exited:
            return False
        last = self.last_entered.get(rule.id)
        return last is None or _hours(self.at, last) >= rule.cooldown_hours

    def _explain(self, condition: Condition) -> str:
        """E.g. 'grade D (score 452) meets `grade == "D"`' plus the other values read."""
        others = [name for name in condition.names if name not in ("grade", "score")]
        text = f"grade {self.record.grade} (score {self.record.score}) meets `{condition.source}`"
        if others:
            values = ", ".join(f"{name}={_format(self.env.get(name))}" for name in others)
            text += f" with {values}"
        return text

    def _enter(self, rule: Rule, explanation: str, escalated_from: str | None = None) -> None:
        self.last_entered[rule.id] = self.at
        reason = f"{rule.description}: {explanation}"
        notices: list[ActiveAction] = []
        restrictions: list[ActiveAction] = []
        review: RiskAction | None = None
        for spec in rule.actions:
            if spec.action in RESTRICTIONS:
                # A re-entry replaces the rule's own earlier hold of the same kind, if an
                # on_exit without this reversal left one behind.
                self.holds = [
                    hold
                    for hold in self.holds
                    if not (hold.rule_id == rule.id and hold.action == spec.action)
                ]
            issued = self._issue(rule.id, spec.action, rule.severity, reason, self._cut(spec))
            if spec.action in RESTRICTIONS:
                self.holds.append(issued)
                restrictions.append(issued)
            else:
                notices.append(issued)
            if spec.action == "manual_review":
                review = self.actions[-1]
        if review is not None:
            codes = tuple(code.code for code in self.record.reasons[:3])
            self.cases.append(open_rule_case(review, restrictions, codes))
        self.activations[rule.id] = RuleActivation(
            rule_id=rule.id,
            entered_at=self.at,
            escalated_from=escalated_from,
            notices=tuple(notices),
        )

    def _cut(self, spec: ActionSpec) -> float | None:
        """The limit a cut_limit imposes: a share of the model's limit, or an absolute
        amount that never exceeds it."""
        model_limit = self.record.credit_limit
        if spec.factor is not None:
            return round(model_limit * spec.factor, 2)
        if spec.to is not None:
            return round(min(spec.to, model_limit), 2)
        return None

    def _exit(self, rule: Rule, held: float) -> None:
        del self.activations[rule.id]
        self.exited.add(rule.id)
        reason = (
            f"{rule.description}: cleared, `{rule.exit_condition.source}` held for "
            f"{_format(held)} h (minimum {_format(rule.min_hours_in_state)} h); "
            f"grade {self.record.grade} (score {self.record.score})"
        )
        for reversal in rule.on_exit:
            before = Enforced.of(self.holds)
            undone = REVERSALS[reversal]
            self.holds = [
                hold
                for hold in self.holds
                if not (hold.rule_id == rule.id and hold.action in undone)
            ]
            after = Enforced.of(self.holds)
            if before.differs_for(reversal, after):
                limit = after.limit if reversal == "restore_limit" else None
                self._issue(rule.id, reversal, "green", reason, limit)

    def _issue(
        self,
        rule_id: str,
        action: ActionType,
        severity: RiskLevel,
        reason: str,
        imposed_limit: float | None,
    ) -> ActiveAction:
        """Appends the RiskAction and returns its record for the state. A cut_limit
        action carries the limit then in force (the lowest of all holds)."""
        record = self.record
        issued = ActiveAction(
            action_id=action_id(
                record.customer_id, rule_id, self.rules.version, action, record.triggered_by
            ),
            action=action,
            rule_id=rule_id,
            reason=reason,
            issued_at=self.at,
            credit_limit=imposed_limit,
            severity=severity,
        )
        published_limit = imposed_limit
        if action == "cut_limit":
            published_limit = Enforced.of([*self.holds, issued]).limit
        opens = (
            case_id(record.customer_id, "rule_review", issued.action_id)
            if action == "manual_review"
            else None
        )
        self.actions.append(
            RiskAction(
                action_id=issued.action_id,
                customer_id=record.customer_id,
                action=action,
                credit_limit=published_limit,
                severity=severity,
                rule_id=rule_id,
                rule_version=self.rules.version,
                reason=reason,
                score=record.score,
                grade=record.grade,
                model_version=record.model_version,
                triggered_by=record.triggered_by,
                issued_at=self.at,
                case_id=opens,
                decision_id=record.score_id,
            )
        )
        return issued

    def finish(self, now: datetime) -> WarningState:
        previous = self.previous
        status_changed = Enforced.of(self.holds).status != previous.status
        state = WarningState(
            customer_id=previous.customer_id,
            holds=tuple(self.holds),
            activations=tuple(
                self.activations[rule.id]
                for rule in self.rules.rules
                if rule.id in self.activations
            ),
            last_entered=self.last_entered,
            status_since=self.at
            if status_changed or previous.status_since is None
            else previous.status_since,
            last_score=self.record.score,
            last_grade=self.record.grade,
            last_score_id=self.record.score_id,
            last_scored_at=self.at,
            rules_version=self.rules.version,
            updated_at=now,
            version=previous.version + 1,
            cases=previous.cases,
            locale=self.record.locale or previous.locale,
        )
        for case in self.cases:
            state = with_case(state, case)
        return state
