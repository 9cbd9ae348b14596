"""The warning service's per-customer state: the rules active for a customer, the holds
(restrictions in force) they and administrators imposed, and what the order system then
enforces. Restricting actions leave *holds* on the customer; the account status is the
strongest hold (suspended > frozen > limited > active) and the imposed credit limit is the
lowest ``cut_limit`` hold, so two rules can restrict one customer and lifting one leaves the
other in force.

``action_id`` is a UUIDv5 of (customer, rule, rule version, action, trigger): the same
trigger always yields the same id, so the order system applies an action once.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from schemas.actions import (
    AccountStatus,
    ActionType,
    ActiveAction,
    CustomerRiskState,
    RiskAction,
)
from schemas.codecs import model_json
from schemas.common import Identifier, Timestamp
from schemas.scores import Grade
from services.common.tiers import ServiceTiers
from services.warning.core.case_record import ReviewCase

ACTION_ID_NAMESPACE: Final = uuid.UUID("8f0f6a3e-27c1-5b6e-9d0c-6b1f2c4e7a10")
"""Namespace of the UUIDv5 action ids; changing it changes every id."""


class RuleActivation(BaseModel):
    """A rule active for the customer. ``exit_since`` is the first score of the current
    unbroken run on which the exit condition held (None: it does not hold now)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule_id: str
    entered_at: Timestamp
    escalated_from: str | None = None
    exit_since: Timestamp | None = None
    notices: tuple[ActiveAction, ...] = ()


class WarningState(BaseModel):
    """Everything the warning service keeps per customer; JSON via :meth:`to_json` /
    :meth:`from_json`. :func:`risk_state_view` derives the contract's CustomerRiskState.

    ``holds`` are restrictions in force (cut_limit, require_prepayment, freeze_credit,
    suspend_account), each with the rule that imposed it; ``last_entered`` is each rule's
    last entry time (for cooldowns). ``version`` grows by one on every change.
    ``cases`` are the customer's review cases: the open ones and the latest decided ones.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: Identifier
    holds: tuple[ActiveAction, ...] = ()
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
    cases: tuple[ReviewCase, ...] = ()
    locale: str | None = None
    """The customer's language as their latest event giving one said (notices use it)."""

    @property
    def status(self) -> AccountStatus:
        """The strongest hold: suspended > frozen > limited > active."""
        return Enforced.of(self.holds).status

    @property
    def credit_limit(self) -> float | None:
        """The lowest limit a hold imposes (None: the model's limit applies)."""
        return Enforced.of(self.holds).limit

    def to_json(self) -> bytes:
        """The state's JSON, the very bytes ``model_dump_json()`` writes (every instant
        having an RFC 3339 offset, of whole minutes), made once per state: a judged batch
        writes each new state to ``warning.state`` and to Redis, and reads it back from
        Redis in the next batch."""
        known = _ENCODED.get(id(self))
        if known is not None and known[0] is self:
            return known[1]
        data = model_json(self)
        _remember(_ENCODED, id(self), (self, data))
        _remember(_DECODED, data, self)
        return data

    @classmethod
    def from_json(cls, data: bytes | str) -> WarningState:
        """Raises pydantic's ValidationError for data that is not a stored state."""
        raw = data.encode() if isinstance(data, str) else data
        known = _DECODED.get(raw)
        if known is not None:
            return known
        state = cls.model_validate_json(raw)
        _remember(_DECODED, raw, state)
        return state


MEMO_STATES = 8192
"""States whose JSON (by identity) and whose parse (by the exact bytes) are remembered.
A state is never changed once made (changes make new states), so either is as good as
made again; the same customers' states come back batch after batch."""
# OrderedDict: forgetting the oldest entry of a plain dict (``next(iter(d))``) scans the
# slots its earlier deletions left, microseconds per state once the memo is full.
_ENCODED: OrderedDict[int, tuple[WarningState, bytes]] = OrderedDict()
_DECODED: OrderedDict[bytes, WarningState] = OrderedDict()
_K = TypeVar("_K")
_V = TypeVar("_V")


def _remember(memo: OrderedDict[_K, _V], key: _K, value: _V) -> None:
    """Keeps ``value`` under ``key``, forgetting the oldest entry past :data:`MEMO_STATES`."""
    if len(memo) >= MEMO_STATES:
        memo.popitem(last=False)
    memo[key] = value


@dataclass(frozen=True, slots=True)
class Enforced:
    """What the order system enforces, summarised from the holds."""

    suspended: bool
    frozen: bool
    prepayment: bool
    limit: float | None

    @classmethod
    def of(cls, holds: Iterable[ActiveAction]) -> Enforced:
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

    def differs_for(self, reversal: ActionType, other: Enforced) -> bool:
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


def risk_state_view(state: WarningState, tiers: ServiceTiers | None = None) -> CustomerRiskState:
    """The contract view: status, imposed limit, whether prepayment is required, and every
    action still in effect (holds and the notices of active rules) with its reason,
    severity and limit, oldest first; at one instant, restrictions in the order issued,
    then notices. With ``tiers``, the service tier of the last grade under that status."""
    in_effect = [*state.holds, *(n for a in state.activations for n in a.notices)]
    in_effect.sort(key=lambda issued: issued.issued_at)
    enforced = Enforced.of(state.holds)
    return CustomerRiskState(
        customer_id=state.customer_id,
        status=enforced.status,
        credit_limit=enforced.limit,
        prepayment_required=enforced.prepayment,
        active_actions=in_effect,
        last_score=state.last_score,
        last_grade=state.last_grade,
        status_since=state.status_since,
        updated_at=state.updated_at,
        version=state.version,
        locale=state.locale,
        service_tier=None
        if tiers is None or state.last_grade is None
        else tiers.of(state.last_grade, enforced.status),
    )
