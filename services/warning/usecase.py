"""The warning use case: scores in, graded actions out, and administrators' overrides.

The Kafka consumer and the HTTP API both call :class:`WarningDesk`, through the small ports
below, so a score and an override change a customer's state the same way.

Order of effects, chosen for at-least-once delivery: actions are published (and
acknowledged) *before* the new state is stored, and the consumer commits its offsets only
after both. A crash in between leaves the old state, so the redelivered score is judged
again from it and yields the same actions with the same ids, which the order system
applies once. Storing first would be wrong: the redelivered score would then be skipped as
already seen and its actions lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from schemas.actions import ActionType, CustomerRiskState, RiskAction
from schemas.records import AuditRecord
from schemas.scores import ScoreRecord
from services.common.clock import Clock
from services.warning.core import (
    CaseDecision,
    ReviewCase,
    RuleSet,
    WarningState,
    claim_case,
    decide_case,
    evaluate,
    find_case,
    manual_override,
    risk_state_view,
)
from services.warning.errors import CaseNotFoundError, StateError

SERVICE = "warning"
"""``service`` of the audit records this service writes."""


class StateStore(Protocol):
    """Per-customer warning state. Raises :class:`StoreUnavailableError` when the store
    does not answer."""

    async def load(self, customer_ids: Sequence[str]) -> dict[str, bytes]:
        """The stored ``WarningState`` JSON of each customer that has one, in one round
        trip; customers never seen are absent."""
        ...

    async def save(self, states: Sequence[WarningState]) -> None:
        """Stores each state and its contract view (``CustomerRiskState``, which the scorer
        reads) atomically, in one round trip, with the index of their review cases."""
        ...

    async def case_owners(self, case_ids: Sequence[str]) -> dict[str, str]:
        """The customer of each known case id (unknown ids are absent)."""
        ...

    async def open_case_ids(self, limit: int) -> list[str]:
        """Ids of cases waiting for a decision, oldest first, at most ``limit``."""
        ...


class ActionPublisher(Protocol):
    async def publish(self, actions: Sequence[RiskAction]) -> None:
        """Returns once Kafka acknowledged every action (keyed by customer, in order);
        raises :class:`PublishUnavailableError` otherwise."""
        ...


class AuditSink(Protocol):
    async def record(self, audit: AuditRecord) -> None:
        """Returns once the record is acknowledged on ``risk.audit``; raises
        :class:`PublishUnavailableError` otherwise."""
        ...


class RuleSource(Protocol):
    def current(self) -> RuleSet:
        """The live rule set (one consistent set per call)."""
        ...


class WarningObserver(Protocol):
    """Where the use case reports outcomes and timings (metrics, in production)."""

    def judged(self, outcome: str, count: int) -> None: ...

    def evaluation(self, seconds: float) -> None: ...

    def issued(self, action: RiskAction) -> None: ...

    def case_opened(self, case: ReviewCase) -> None: ...

    def case_decided(self, case: ReviewCase, seconds_open: float) -> None: ...


class Outcome:
    """How one score was handled (the ``outcome`` reported to the observer)."""

    EVALUATED = "evaluated"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A score that could not be judged: its position in the batch and why. The caller
    dead-letters it; the rest of the batch is unaffected."""

    index: int
    reason: str
    detail: str


@dataclass(slots=True)
class BatchResult:
    """What judging a batch did: the actions published, in order, and the rejections."""

    actions: list[RiskAction] = field(default_factory=list)
    evaluated: int = 0
    duplicates: int = 0
    rejections: list[Rejection] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OverrideResult:
    action: RiskAction
    state: CustomerRiskState


@dataclass(frozen=True, slots=True)
class CaseResult:
    """A decided (or claimed) case, the actions its decision issued and the new state."""

    case: ReviewCase
    actions: list[RiskAction]
    state: CustomerRiskState


class WarningDesk:
    """Judges scores and applies overrides. One lock serialises them within the process,
    so an override never interleaves with a batch touching the same customer (a customer's
    scores all arrive on one partition, consumed by one process)."""

    def __init__(
        self,
        rules: RuleSource,
        store: StateStore,
        publisher: ActionPublisher,
        audit: AuditSink,
        clock: Clock,
        observer: WarningObserver,
    ) -> None:
        self._rules = rules
        self._store = store
        self._publisher = publisher
        self._audit = audit
        self._clock = clock
        self._observer = observer
        self._lock = asyncio.Lock()

    async def judge(self, records: Sequence[ScoreRecord]) -> BatchResult:
        """Judges scores in order (a customer's later score sees the state its earlier one
        left), publishes every action, then stores every changed state.

        Raises :class:`PublishUnavailableError` or :class:`StoreUnavailableError` when an
        effect failed; the caller must not commit the batch then (see the module docstring).
        """
        result = BatchResult()
        if not records:
            return result
        async with self._lock:
            rules = self._rules.current()
            stored = await self._store.load(list(dict.fromkeys(r.customer_id for r in records)))
            states: dict[str, WarningState | None] = {}
            changed: dict[str, WarningState] = {}
            now = self._clock.now()
            for index, record in enumerate(records):
                customer_id = record.customer_id
                try:
                    if customer_id not in states:
                        states[customer_id] = _parse_state(stored.get(customer_id))
                    started = time.perf_counter()
                    evaluation = evaluate(rules, states[customer_id], record, now)
                    self._observer.evaluation(time.perf_counter() - started)
                except _UnreadableStateError as error:
                    result.rejections.append(Rejection(index, "state_unreadable", str(error)))
                    continue
                except StateError as error:
                    result.rejections.append(Rejection(index, "state_mismatch", str(error)))
                    continue
                if evaluation.skipped:
                    result.duplicates += 1
                    continue
                result.evaluated += 1
                result.actions.extend(evaluation.actions)
                states[customer_id] = changed[customer_id] = evaluation.state
            await self._publisher.publish(result.actions)
            await self._store.save(list(changed.values()))
        for action in result.actions:
            self._observer.issued(action)
            if action.action == "manual_review" and action.case_id is not None:
                opened = changed.get(action.customer_id)
                if opened is not None:
                    self._observer.case_opened(find_case(opened, action.case_id))
        self._observer.judged(Outcome.EVALUATED, result.evaluated)
        self._observer.judged(Outcome.DUPLICATE, result.duplicates)
        self._observer.judged(Outcome.REJECTED, len(result.rejections))
        return result

    async def override(
        self,
        customer_id: str,
        action: ActionType,
        reason: str,
        actor: str,
        credit_limit: float | None = None,
    ) -> OverrideResult:
        """An administrator's action: published on ``risk.actions``, recorded on
        ``risk.audit``, then stored. A customer never seen starts from the default state.

        Raises :class:`StateError` when the override does not fit the state (nothing to
        reverse, a misplaced limit, an empty reason) or the stored state is unreadable;
        :class:`PublishUnavailableError` / :class:`StoreUnavailableError` when an effect
        failed (the state is then unchanged).
        """
        async with self._lock:
            stored = await self._store.load([customer_id])
            try:
                state = _parse_state(stored.get(customer_id))
            except _UnreadableStateError as error:
                raise StateError(f"stored state is unreadable: {error}") from error
            now = self._clock.now()
            evaluation = manual_override(
                state or WarningState(customer_id=customer_id),
                action,
                reason,
                actor,
                now,
                credit_limit,
            )
            (issued,) = evaluation.actions
            audit = AuditRecord.new(
                service=SERVICE,
                actor=actor,
                operation="override",
                subject=customer_id,
                reason=reason,
                details=_override_details(issued),
                at=now,
            )
            await asyncio.gather(self._publisher.publish([issued]), self._audit.record(audit))
            await self._store.save([evaluation.state])
        self._observer.issued(issued)
        return OverrideResult(issued, risk_state_view(evaluation.state))

    async def _state_of_case(self, wanted: str) -> WarningState:
        owners = await self._store.case_owners([wanted])
        customer_id = owners.get(wanted)
        if customer_id is None:
            raise CaseNotFoundError(f"no case {wanted}")
        state = await self._stored_state(customer_id)
        if state is None:
            raise CaseNotFoundError(f"no case {wanted}")
        return state

    async def _stored_state(self, customer_id: str) -> WarningState | None:
        stored = await self._store.load([customer_id])
        try:
            return _parse_state(stored.get(customer_id))
        except _UnreadableStateError as error:
            raise StateError(f"stored state is unreadable: {error}") from error

    async def case(self, wanted: str) -> ReviewCase:
        """One case; CaseNotFoundError when unknown."""
        return find_case(await self._state_of_case(wanted), wanted)

    async def open_cases(self, limit: int) -> list[ReviewCase]:
        """Cases waiting for a decision, oldest first (at most ``limit``)."""
        case_ids = await self._store.open_case_ids(limit)
        owners = await self._store.case_owners(case_ids)
        stored = await self._store.load(list(dict.fromkeys(owners.values())))
        cases: list[ReviewCase] = []
        for wanted in case_ids:
            try:
                state = _parse_state(stored.get(owners.get(wanted, "")))
                case = find_case(state, wanted)
            except (_UnreadableStateError, CaseNotFoundError):
                continue
            if case.is_open:
                cases.append(case)
        return cases

    async def customer_cases(self, customer_id: str) -> list[ReviewCase]:
        """The customer's open and recently decided cases, oldest first."""
        state = await self._stored_state(customer_id)
        return [] if state is None else sorted(state.cases, key=lambda c: c.opened_at)

    async def claim_case(self, wanted: str, actor: str, role: str) -> ReviewCase:
        """``actor`` takes the case (see :func:`services.warning.core.claim_case`); the
        claim is audited and stored. Raises CaseNotFoundError, CaseForbiddenError,
        CaseConflictError (someone else holds it, or it is decided)."""
        async with self._lock:
            state = await self._state_of_case(wanted)
            now = self._clock.now()
            claimed = claim_case(state, wanted, actor, role, now)
            case = find_case(claimed, wanted)
            if claimed is state:
                return case
            await self._audit.record(
                AuditRecord.new(
                    service=SERVICE,
                    actor=actor,
                    operation="case.claim",
                    subject=state.customer_id,
                    reason=f"case {wanted} claimed",
                    details={"case_id": wanted, "origin": case.origin},
                    at=now,
                )
            )
            await self._store.save([claimed])
        return case

    async def decide_case(
        self, wanted: str, decision: CaseDecision, actor: str, role: str, comment: str
    ) -> CaseResult:
        """Decides a case (see :func:`services.warning.core.decide_case`): the actions are
        published and the decision audited before the state is stored, as for overrides.
        One decision wins: the lock serialises deciders in this process and the second
        finds the case decided (CaseConflictError)."""
        async with self._lock:
            state = await self._state_of_case(wanted)
            now = self._clock.now()
            evaluation = decide_case(state, wanted, decision, actor, role, comment, now)
            case = find_case(evaluation.state, wanted)
            audit = AuditRecord.new(
                service=SERVICE,
                actor=actor,
                operation="case.decide",
                subject=state.customer_id,
                reason=comment,
                details={
                    "case_id": wanted,
                    "origin": case.origin,
                    "reference": case.reference,
                    "decision": decision,
                    "claimed_by": case.claimed_by,
                    "action_ids": list(case.decision_action_ids),
                    "actions": [a.action for a in evaluation.actions],
                },
                at=now,
            )
            await asyncio.gather(
                self._publisher.publish(evaluation.actions), self._audit.record(audit)
            )
            await self._store.save([evaluation.state])
        for action in evaluation.actions:
            self._observer.issued(action)
        self._observer.case_decided(case, (now - case.opened_at).total_seconds())
        for follow_up in evaluation.state.cases:
            if follow_up.origin == "escalation" and follow_up.reference == wanted:
                self._observer.case_opened(follow_up)
        return CaseResult(case, evaluation.actions, risk_state_view(evaluation.state))

    async def risk_state(self, customer_id: str) -> CustomerRiskState:
        """The customer's current status, limit and actions in effect; a customer never
        seen has the default active state. Raises :class:`StoreUnavailableError`, or
        :class:`StateError` for an unreadable stored state."""
        state = await self._stored_state(customer_id)
        if state is None:
            return CustomerRiskState(customer_id=customer_id)
        return risk_state_view(state)


class _UnreadableStateError(Exception):
    pass


def _parse_state(data: bytes | None) -> WarningState | None:
    if data is None:
        return None
    try:
        return WarningState.from_json(data)
    except ValidationError as error:
        raise _UnreadableStateError(str(error.errors()[0]["msg"])) from error


def _override_details(action: RiskAction) -> dict[str, Any]:
    return {
        "action": action.action,
        "action_id": action.action_id,
        "credit_limit": action.credit_limit,
        "severity": action.severity,
    }
