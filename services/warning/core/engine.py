"""The per-customer warning state machine: scores in, graded and reversible actions out.

Every rule is a small state machine per customer: **inactive** until its ``when`` holds,
then **active** (its entry actions issued) until its exit condition has held on every score
for ``min_hours_in_state`` hours, then inactive again (its ``on_exit`` reversals issued).
A rule does not enter again within ``cooldown_hours`` of its last entry. An active rule
with ``escalate`` brings its target rule in once the escalation condition holds and the
rule has been active ``after_hours``.

Restricting actions leave *holds* on the customer; the account status is the strongest
hold (suspended > frozen > limited > active) and the imposed credit limit is the lowest
``cut_limit`` hold, so two rules can restrict one customer and lifting one leaves the
other in force. A reversal is issued only when it changes what the order system enforces.

Everything is a pure function of its inputs. Time inside a decision is the score's
``scored_at``, never the wall clock, and ``action_id`` is a UUIDv5 of (customer, rule,
rule version, action, triggering event): replaying the same scores from the same state
yields the same actions with the same ids.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from schemas.actions import (
    AccountStatus,
    ActionType,
    ActiveAction,
    CustomerRiskState,
    RiskAction,
)
from schemas.common import Identifier, Timestamp
from schemas.scores import Grade, RiskLevel, ScoreRecord
from services.warning.core.expressions import Condition, Value
from services.warning.core.rules import RESTRICTIONS, REVERSALS, ActionSpec, Rule, RuleSet
from services.warning.errors import StateError

ACTION_ID_NAMESPACE: Final = uuid.UUID("8f0f6a3e-27c1-5b6e-9d0c-6b1f2c4e7a10")
"""Namespace of the UUIDv5 action ids; changing it changes every id."""
MANUAL_OVERRIDE_RULE_ID: Final = "manual-override"
"""``rule_id`` of administrator actions (rule ids cannot contain '-', so it never clashes)."""
MANUAL_OVERRIDE_VERSION: Final = "manual"

_OVERRIDE_SEVERITY: Final[Mapping[ActionType, RiskLevel]] = {
    "notify": "green",
    "manual_review": "yellow",
    "require_prepayment": "yellow",
    "cut_limit": "yellow",
    "freeze_credit": "red",
    "suspend_account": "red",
    "restore_limit": "green",
    "unfreeze_credit": "green",
    "reinstate_account": "green",
}


# ---------------------------------------------------------------------------- state


class IssuedAction(BaseModel):
    """An action the warning service issued and still remembers: a hold (a restriction
    in force) or a notice of a rule that is still active. ``credit_limit`` is the limit a
    ``cut_limit`` hold imposes; ``severity`` is the one published with the action (None in
    states stored before it was kept)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action_id: str
    action: ActionType
    rule_id: str
    reason: str
    issued_at: Timestamp
    credit_limit: float | None = Field(default=None, ge=0)
    severity: RiskLevel | None = None


class RuleActivation(BaseModel):
    """A rule active for the customer. ``exit_since`` is the first score of the current
    unbroken run on which the exit condition held (None: it does not hold now)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule_id: str
    entered_at: Timestamp
    escalated_from: str | None = None
    exit_since: Timestamp | None = None
    notices: tuple[IssuedAction, ...] = ()


class WarningState(BaseModel):
    """Everything the warning service keeps per customer; JSON via :meth:`to_json` /
    :meth:`from_json`. :func:`risk_state_view` derives the contract's CustomerRiskState.

    ``holds`` are restrictions in force (cut_limit, require_prepayment, freeze_credit,
    suspend_account), each with the rule that imposed it; ``last_entered`` is each rule's
    last entry time (for cooldowns). ``version`` grows by one on every change.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: Identifier
    holds: tuple[IssuedAction, ...] = ()
    activations: tuple[RuleActivation, ...] = ()
    last_entered: dict[str, Timestamp] = Field(default_factory=dict)
    status_since: Timestamp | None = None
    last_score: int | None = None
    last_grade: Grade | None = None
    last_score_id: str | None = None
    last_scored_at: Timestamp | None = None
    rules_version: str | None = None
    updated_at: Timestamp | None = None
    version: int = Field(default=0, ge=0)

    @property
    def status(self) -> AccountStatus:
        """The strongest hold: suspended > frozen > limited > active."""
        return _Enforced.of(self.holds).status

    @property
    def credit_limit(self) -> float | None:
        """The lowest limit a hold imposes (None: the model's limit applies)."""
        return _Enforced.of(self.holds).limit

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> WarningState:
        """Raises pydantic's ValidationError for data that is not a stored state."""
        return cls.model_validate_json(data)


@dataclass(frozen=True, slots=True)
class _Enforced:
    """What the order system enforces, summarised from the holds."""

    suspended: bool
    frozen: bool
    prepayment: bool
    limit: float | None

    @classmethod
    def of(cls, holds: Iterable[IssuedAction]) -> _Enforced:
        actions: set[ActionType] = set()
        limits: list[float] = []
        for hold in holds:
            actions.add(hold.action)
            if hold.action == "cut_limit" and hold.credit_limit is not None:
                limits.append(hold.credit_limit)
        return cls(
            suspended="suspend_account" in actions,
            frozen="freeze_credit" in actions,
            prepayment="require_prepayment" in actions,
            limit=min(limits) if limits else None,
        )

    @property
    def status(self) -> AccountStatus:
        if self.suspended:
            return "suspended"
        if self.frozen:
            return "frozen"
        if self.prepayment or self.limit is not None:
            return "limited"
        return "active"

    def differs_for(self, reversal: ActionType, other: _Enforced) -> bool:
        """True when ``reversal`` has something to tell the order system."""
        if reversal == "reinstate_account":
            return self.suspended != other.suspended
        if reversal == "unfreeze_credit":
            return self.frozen != other.frozen
        return (self.prepayment, self.limit) != (other.prepayment, other.limit)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The outcome of one score: the actions to publish (in order) and the state to store.
    ``skipped`` is true when the score was already seen or is older than the state (a
    redelivery): no actions, state unchanged."""

    actions: list[RiskAction]
    state: WarningState
    skipped: bool = False


def action_id(
    customer_id: str, rule_id: str, rule_version: str, action: ActionType, triggered_by: str
) -> str:
    """The stable id of an action: the same trigger always yields the same id."""
    name = "\x1f".join((customer_id, rule_id, rule_version, action, triggered_by))
    return str(uuid.uuid5(ACTION_ID_NAMESPACE, name))


# ------------------------------------------------------------------------ evaluation


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
    return Evaluation(run.actions, run.finish(now))


def _hours(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 3600


def _format(value: Value) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.4g}"
    return str(value)


def _environment(record: ScoreRecord, state: WarningState) -> dict[str, Value]:
    """Condition variables for one score (rules.BASE_VARIABLES plus the features; a NaN
    feature reads as null)."""
    env: dict[str, Value] = {
        name: None if value is None or math.isnan(value) else value
        for name, value in record.features.items()
    }
    env.update(
        score=record.score,
        grade=record.grade,
        risk_level=record.risk_level,
        probability_of_default=record.probability_of_default,
        previous_score=state.last_score,
        previous_grade=state.last_grade,
        score_change=None if state.last_score is None else record.score - state.last_score,
        event_type=record.trigger_event_type,
        status=state.status,
        credit_limit=record.credit_limit,
        hours_in_status=0.0
        if state.status_since is None
        else _hours(record.scored_at, state.status_since),
    )
    return env


@dataclass
class _Run:
    """The mutable working copy of one evaluation."""

    rules: RuleSet
    previous: WarningState
    record: ScoreRecord
    env: dict[str, Value] = field(init=False)
    holds: list[IssuedAction] = field(init=False)
    activations: dict[str, RuleActivation] = field(init=False)
    last_entered: dict[str, datetime] = field(init=False)
    exited: set[str] = field(default_factory=set)
    actions: list[RiskAction] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.env = _environment(self.record, self.previous)
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
        notices: list[IssuedAction] = []
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
            else:
                notices.append(issued)
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
            before = _Enforced.of(self.holds)
            undone = REVERSALS[reversal]
            self.holds = [
                hold
                for hold in self.holds
                if not (hold.rule_id == rule.id and hold.action in undone)
            ]
            after = _Enforced.of(self.holds)
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
    ) -> IssuedAction:
        """Appends the RiskAction and returns its record for the state. A cut_limit
        action carries the limit then in force (the lowest of all holds)."""
        record = self.record
        issued = IssuedAction(
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
            published_limit = _Enforced.of([*self.holds, issued]).limit
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
            )
        )
        return issued

    def finish(self, now: datetime) -> WarningState:
        previous = self.previous
        status_changed = _Enforced.of(self.holds).status != previous.status
        return WarningState(
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
        )


# ------------------------------------------------------------------ administration


def manual_override(
    state: WarningState,
    action: ActionType,
    reason: str,
    actor: str,
    now: datetime,
    credit_limit: float | None = None,
) -> Evaluation:
    """An administrator's action on a customer, e.g. unfreeze after a review.

    A reversal lifts every hold it undoes, whichever rule imposed it; the rule itself
    stays active, so it does not re-impose the hold on the next score (it can again once
    it has exited and re-entered, or by escalation). A restriction adds a hold under
    :data:`MANUAL_OVERRIDE_RULE_ID` that only a manual reversal lifts; ``cut_limit``
    needs ``credit_limit``. The action's ``triggered_by`` names the actor and instant,
    so its id is stable for a retried request. Raises :class:`StateError` for an empty
    reason or actor, a reversal with nothing to reverse, or a misplaced ``credit_limit``.
    """
    if not reason.strip() or not actor.strip():
        raise StateError("a manual override needs a reason and an actor")
    if (action == "cut_limit") != (credit_limit is not None):
        raise StateError("credit_limit goes with cut_limit, and only with it")
    if credit_limit is not None and not (math.isfinite(credit_limit) and credit_limit >= 0):
        raise StateError("credit_limit must be a non-negative amount")
    triggered_by = f"override:{actor}:{now.isoformat()}"
    identifier = action_id(
        state.customer_id, MANUAL_OVERRIDE_RULE_ID, MANUAL_OVERRIDE_VERSION, action, triggered_by
    )
    text = f"manual override by {actor}: {reason}"
    before = _Enforced.of(state.holds)
    holds = list(state.holds)
    if action in REVERSALS:
        holds = [hold for hold in holds if hold.action not in REVERSALS[action]]
        if not before.differs_for(action, _Enforced.of(holds)):
            raise StateError(f"nothing to {action}: the customer is {state.status}")
    elif action in RESTRICTIONS:
        holds = [
            hold
            for hold in holds
            if not (hold.rule_id == MANUAL_OVERRIDE_RULE_ID and hold.action == action)
        ]
        holds.append(
            IssuedAction(
                action_id=identifier,
                action=action,
                rule_id=MANUAL_OVERRIDE_RULE_ID,
                reason=text,
                issued_at=now,
                credit_limit=credit_limit,
                severity=_OVERRIDE_SEVERITY[action],
            )
        )
    after = _Enforced.of(holds)
    published_limit = after.limit if action in ("cut_limit", "restore_limit") else None
    risk_action = RiskAction(
        action_id=identifier,
        customer_id=state.customer_id,
        action=action,
        credit_limit=published_limit,
        severity=_OVERRIDE_SEVERITY[action],
        rule_id=MANUAL_OVERRIDE_RULE_ID,
        rule_version=MANUAL_OVERRIDE_VERSION,
        reason=text,
        score=state.last_score,
        grade=state.last_grade,
        triggered_by=triggered_by,
        issued_at=now,
    )
    new_state = state.model_copy(
        update={
            "holds": tuple(holds),
            "status_since": now if after.status != before.status else state.status_since,
            "updated_at": now,
            "version": state.version + 1,
        }
    )
    return Evaluation([risk_action], new_state)


def risk_state_view(state: WarningState) -> CustomerRiskState:
    """The contract view: status, imposed limit, whether prepayment is required, and every
    action still in effect (holds and the notices of active rules) with its reason,
    severity and limit, oldest first; at one instant, restrictions in the order issued,
    then notices."""
    in_effect = [*state.holds, *(n for a in state.activations for n in a.notices)]
    in_effect.sort(key=lambda issued: issued.issued_at)
    enforced = _Enforced.of(state.holds)
    return CustomerRiskState(
        customer_id=state.customer_id,
        status=enforced.status,
        credit_limit=enforced.limit,
        prepayment_required=enforced.prepayment,
        active_actions=[
            ActiveAction(
                action_id=issued.action_id,
                action=issued.action,
                rule_id=issued.rule_id,
                reason=issued.reason,
                issued_at=issued.issued_at,
                severity=issued.severity,
                credit_limit=issued.credit_limit,
            )
            for issued in in_effect
        ],
        last_score=state.last_score,
        last_grade=state.last_grade,
        status_since=state.status_since,
        updated_at=state.updated_at,
        version=state.version,
    )
