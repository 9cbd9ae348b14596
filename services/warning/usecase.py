"""The warning use case: scores in, graded actions out, and administrators' overrides.

The Kafka consumer and the HTTP API both call :class:`WarningDesk`, through the small ports
below, so a score and an override change a customer's state the same way.

Order of effects, chosen for at-least-once delivery: actions are published (and
acknowledged) *before* the new state is stored, and the consumer commits its offsets only
after both. Storing is two steps: the state is appended to ``warning.state`` (the durable
record, acknowledged by Kafka), then its copy is written to Redis (where the service and
the scorer read it). A crash anywhere before the commit leaves Redis with the old state,
so the redelivered score is judged again from it and yields the same actions with the
same ids, which the order system applies once, and the same state, appended again.
Storing before publishing would be wrong: the redelivered score would then be skipped as
already seen and its actions lost. Redis alone would be wrong too: a Redis that lost its
data would forget holds in force; it is rebuilt from ``warning.state`` instead
(:meth:`WarningDesk.restore`), and nothing is judged meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from schemas.actions import ActionType, CustomerRiskState, RiskAction
from schemas.records import AuditRecord
from schemas.scores import ScoreRecord
from services.common.clock import Clock
from services.common.tiers import ServiceTiers
from services.warning.core import (
    AppealSubject,
    CaseDecision,
    LimitAssessment,
    LimitDecision,
    ReviewCase,
    RuleSet,
    WarningState,
    claim_case,
    decide_case,
    decide_limit_application,
    evaluate,
    find_case,
    manual_override,
    open_appeal,
    risk_state_view,
)
from services.warning.errors import (
    CaseNotFoundError,
    ScoringUnavailableError,
    StateError,
    StoreRebuildingError,
)

log = logging.getLogger(__name__)

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


class ScoreSource(Protocol):
    async def assess(self, customer_id: str) -> LimitAssessment:
        """The model's judgement of the customer now, recorded on the decision log (its
        ``decision_id``); raises :class:`ScoringUnavailableError` when the score service
        cannot give one."""
        ...


class DecisionLookup(Protocol):
    async def decision_of(self, customer_id: str, decision_id: str) -> bool:
        """True when the decision log's copy holds ``decision_id`` for this customer."""
        ...


class StateLog(Protocol):
    async def append(self, states: Sequence[WarningState]) -> None:
        """Returns once Kafka acknowledged every state on ``warning.state`` (keyed by
        customer, in order); raises :class:`PublishUnavailableError` otherwise."""
        ...


class StateHistory(Protocol):
    async def latest(self, partitions: Collection[int]) -> dict[str, bytes]:
        """The last ``WarningState`` JSON of every customer on ``partitions`` of
        ``warning.state``, read to the end offsets the partitions had when the call began."""
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

    def restored(self, customers: int) -> None:
        """``customers`` states were rewritten to Redis by a rebuild."""
        ...


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
class LimitApplicationResult:
    """A decided limit application and the model's judgement it rests on."""

    assessment: LimitAssessment
    decision: LimitDecision
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class CaseResult:
    """A decided (or claimed) case, the actions its decision issued and the new state."""

    case: ReviewCase
    actions: list[RiskAction]
    state: CustomerRiskState


class WarningDesk:
    """Judges scores, applies overrides and restores lost state. One lock serialises them
    within the process, so an override never interleaves with a batch touching the same
    customer (a customer's scores all arrive on one partition, consumed by one process),
    and a restore never overwrites a state stored after it began."""

    def __init__(
        self,
        rules: RuleSource,
        store: StateStore,
        state_log: StateLog,
        publisher: ActionPublisher,
        audit: AuditSink,
        clock: Clock,
        observer: WarningObserver,
        *,
        tiers: ServiceTiers | None = None,
        scores: ScoreSource | None = None,
        decisions: DecisionLookup | None = None,
    ) -> None:
        self._tiers = tiers
        self._scores = scores
        self._decisions = decisions
        self._rules = rules
        self._store = store
        self._state_log = state_log
        self._publisher = publisher
        self._audit = audit
        self._clock = clock
        self._observer = observer
        self._lock = asyncio.Lock()
        self._restoring = False

    def _refuse_while_restoring(self) -> None:
        if self._restoring:
            raise StoreRebuildingError("warning state is being rebuilt from warning.state")

    async def _store_states(self, states: Sequence[WarningState]) -> None:
        """The durable record first, then the copy the service and the scorer read."""
        if states:
            await self._state_log.append(states)
            await self._store.save(states)

    async def judge(self, records: Sequence[ScoreRecord]) -> BatchResult:
        """Judges scores in order (a customer's later score sees the state its earlier one
        left), publishes every action, then stores every changed state.

        Raises :class:`PublishUnavailableError` or :class:`StoreUnavailableError` when an
        effect failed; the caller must not commit the batch then (see the module docstring).
        """
        result = BatchResult()
        if not records:
            return result
        self._refuse_while_restoring()
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
            await self._store_states(list(changed.values()))
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
        ``risk.audit``, then stored (``warning.state``, then Redis). A customer never seen
        starts from the default state.

        Raises :class:`StateError` when the override does not fit the state (nothing to
        reverse, a misplaced limit, an empty reason) or the stored state is unreadable;
        :class:`PublishUnavailableError` / :class:`StoreUnavailableError` when an effect
        failed (the state in Redis is then unchanged; :class:`StoreRebuildingError` while
        the state is being rebuilt).
        """
        self._refuse_while_restoring()
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
            await self._store_states([evaluation.state])
        self._observer.issued(issued)
        return OverrideResult(issued, risk_state_view(evaluation.state, self._tiers))

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
        """Cases waiting for a decision, oldest first (at most ``limit``). While the state is
        being rebuilt the queue would be partial: StoreRebuildingError instead."""
        self._refuse_while_restoring()
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
        CaseConflictError (someone else holds it, or it is decided), StoreRebuildingError
        while the state is being rebuilt."""
        self._refuse_while_restoring()
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
            await self._store_states([claimed])
        return case

    async def decide_case(
        self, wanted: str, decision: CaseDecision, actor: str, role: str, comment: str
    ) -> CaseResult:
        """Decides a case (see :func:`services.warning.core.decide_case`): the actions are
        published and the decision audited before the state is stored, as for overrides.
        One decision wins: the lock serialises deciders in this process and the second
        finds the case decided (CaseConflictError). StoreRebuildingError while the state is
        being rebuilt."""
        self._refuse_while_restoring()
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
            await self._store_states([evaluation.state])
        for action in evaluation.actions:
            self._observer.issued(action)
        self._observer.case_decided(case, (now - case.opened_at).total_seconds())
        for follow_up in evaluation.state.cases:
            if follow_up.origin == "escalation" and follow_up.reference == wanted:
                self._observer.case_opened(follow_up)
        return CaseResult(case, evaluation.actions, risk_state_view(evaluation.state, self._tiers))

    async def apply_for_limit(
        self, customer_id: str, requested: float, current_limit: float | None, actor: str
    ) -> LimitApplicationResult:
        """Decides an application for a higher limit at once (see
        :func:`services.warning.core.decide_limit_application`) on the model's judgement of
        the customer now and the holds in force. The decision is audited
        (``limit_application``); an approval's grant goes to ``risk.actions``; a referral's
        case is stored like any state change. Raises ScoringUnavailableError,
        LimitApplicationConflictError, StoreRebuildingError, PublishUnavailableError."""
        if self._scores is None:
            raise ScoringUnavailableError("no score service is configured")
        assessment = await self._scores.assess(customer_id)
        self._refuse_while_restoring()
        async with self._lock:
            state = await self._stored_state(customer_id)
            now = self._clock.now()
            decided = decide_limit_application(
                state, customer_id, assessment, requested, current_limit, now
            )
            audit = AuditRecord.new(
                service=SERVICE,
                actor=actor,
                operation="limit_application",
                subject=customer_id,
                reason=f"{decided.outcome}: {decided.reasons[0].text}",
                details={
                    "decision_id": assessment.decision_id,
                    "outcome": decided.outcome,
                    "requested_limit": requested,
                    "current_limit": current_limit,
                    "ceiling": decided.ceiling,
                    "approved_limit": decided.approved_limit,
                    "reasons": [reason.code for reason in decided.reasons],
                    "grade": assessment.grade,
                    "score": assessment.score,
                    "model_version": assessment.model_version,
                    "case_id": decided.case.case_id if decided.case else None,
                    "action_id": decided.action.action_id if decided.action else None,
                },
                at=now,
            )
            grants = [decided.action] if decided.action is not None else []
            await asyncio.gather(self._publisher.publish(grants), self._audit.record(audit))
            if decided.state is not None:
                await self._store_states([decided.state])
        for grant in grants:
            self._observer.issued(grant)
        if decided.case is not None:
            self._observer.case_opened(decided.case)
        return LimitApplicationResult(assessment, decided, now)

    async def appeal(
        self,
        customer_id: str,
        subject: AppealSubject,
        reference: str,
        statement: str,
        actor: str,
    ) -> ReviewCase:
        """Records a customer's dispute of an action or a decision as a review case (see
        :func:`services.warning.core.open_appeal`), audited (``appeal.open``, without the
        statement, which stays in the case) before it is stored. Raises
        UnknownAppealSubjectError, AppealConflictError, StateError (the statement),
        StoreRebuildingError, PublishUnavailableError."""
        known = False
        if subject == "decision" and self._decisions is not None:
            known = await self._decisions.decision_of(customer_id, reference)
        self._refuse_while_restoring()
        async with self._lock:
            state = await self._stored_state(customer_id)
            now = self._clock.now()
            opened, case = open_appeal(
                state, customer_id, subject, reference, statement, now, decision_known=known
            )
            await self._audit.record(
                AuditRecord.new(
                    service=SERVICE,
                    actor=actor,
                    operation="appeal.open",
                    subject=customer_id,
                    reason=f"appeal against {subject} {reference}",
                    details={
                        "case_id": case.case_id,
                        "subject": subject,
                        "reference": reference,
                        "holds": list(case.holds),
                    },
                    at=now,
                )
            )
            await self._store_states([opened])
        self._observer.case_opened(case)
        return case

    async def risk_state(self, customer_id: str) -> CustomerRiskState:
        """The customer's current status, limit and actions in effect; a customer never
        seen has the default active state. Raises :class:`StoreUnavailableError`, or
        :class:`StateError` for an unreadable stored state."""
        state = await self._stored_state(customer_id)
        if state is None:
            return CustomerRiskState(customer_id=customer_id)
        return risk_state_view(state, self._tiers)

    async def restore(
        self,
        partitions: Collection[int],
        history: StateHistory,
        pace: Callable[[int], Awaitable[None]],
        batch: int,
    ) -> bool:
        """Rewrites the Redis copies of every state on ``partitions`` from
        ``warning.state``, ``batch`` customers per write, each write waiting for
        ``pace(batch)``; returns True once all are written.

        Nothing is judged or overridden meanwhile (:class:`StoreRebuildingError`): a score
        judged against a state not yet restored would drop the holds in force. The lock
        lets a batch already being judged finish first, so its states are in the log
        before the log is read, and are restored with everything else."""
        self._restoring = True
        try:
            async with self._lock:
                latest = await history.latest(partitions)
                states: list[WarningState] = []
                unreadable = 0
                for data in latest.values():
                    try:
                        states.append(WarningState.from_json(data))
                    except ValidationError:
                        unreadable += 1
                if unreadable:
                    # Only this service writes the topic, from validated states.
                    log.error(
                        "unreadable states on warning.state skipped", extra={"count": unreadable}
                    )
                for start in range(0, len(states), batch):
                    chunk = states[start : start + batch]
                    await pace(len(chunk))
                    await self._store.save(chunk)
                    self._observer.restored(len(chunk))
                return True
        finally:
            self._restoring = False


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
