"""Review cases: a warning that goes to the people who must act on it.

A case opens when a rule issues ``manual_review`` (origin ``rule_review``); the
restrictions the same rule imposed on that score are what the case reviews. An analyst
claims it and decides, with a required comment:

- **confirm**: the restrictions stay (the rule's own exit condition still lifts them);
- **release**: the restrictions under review are lifted at once;
- **escalate**: credit is frozen and a follow-up case (origin ``escalation``) opens that
  only an approver may decide.

Every decision becomes actions on ``risk.actions`` carrying the case id and the outcome,
with ids derived from the case (:func:`services.warning.core.state.action_id`), so a
retried decision yields the same ids. A decided case cannot be decided again.

A customer's appeal (:mod:`.appeals`, origin ``appeal``) and a referred limit application
(:mod:`.limits`, origin ``limit_application``) open cases of the same shape: ``origin``
says where the case came from and ``reference`` names the record that caused it. For
them, escalating only passes the case to an approver (nothing is frozen), and releasing
an application grants its ``limit_offered`` (a ``notify`` carrying ``limit_granted``).
Cases live in the customer's :class:`~services.warning.core.state.WarningState`, so they
are stored, copied and recovered with it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

from schemas.actions import ActionType, ActiveAction, ReviewOutcome, RiskAction
from schemas.scores import RiskLevel
from services.warning.core.case_record import (
    MAX_COMMENT,
    CaseDecision,
    CaseOrigin,
    ReviewCase,
)
from services.warning.core.rules import REVERSALS
from services.warning.core.state import Enforced, Evaluation, WarningState, action_id
from services.warning.errors import (
    CaseConflictError,
    CaseForbiddenError,
    CaseNotFoundError,
    StateError,
)

CASE_RULE_ID: Final = "case-review"
"""``rule_id`` of the actions a decision issues (rule ids cannot contain '-')."""
CASE_RULE_VERSION: Final = "case"
MAX_DECIDED_KEPT: Final = 20
"""Decided cases kept in a customer's state (the full trail is on ``risk.audit``)."""

_OUTCOMES: Final[dict[CaseDecision, ReviewOutcome]] = {
    "confirm": "confirmed",
    "release": "released",
    "escalate": "escalated",
}
_CASE_NAMESPACE: Final = uuid.UUID("0c6e8f5e-6d0f-5a55-9b7e-3a4c1f2d8e91")


def case_id(customer_id: str, origin: CaseOrigin, reference: str) -> str:
    """The stable id of a case: the same trigger always opens the same case."""
    return str(uuid.uuid5(_CASE_NAMESPACE, "\x1f".join((customer_id, origin, reference))))


def open_rule_case(
    review: RiskAction, restrictions: list[ActiveAction], reason_codes: tuple[str, ...]
) -> ReviewCase:
    """The case a rule's ``manual_review`` action opens, reviewing ``restrictions`` (the
    holds the same rule imposed on the same score)."""
    return ReviewCase(
        case_id=case_id(review.customer_id, "rule_review", review.action_id),
        origin="rule_review",
        reference=review.action_id,
        customer_id=review.customer_id,
        opened_at=review.issued_at,
        rule_id=review.rule_id,
        rule_version=review.rule_version,
        reason=review.reason,
        severity=review.severity,
        score=review.score,
        grade=review.grade,
        model_version=review.model_version,
        triggered_by=review.triggered_by,
        reason_codes=reason_codes,
        holds=tuple(hold.action_id for hold in restrictions),
    )


def with_case(state: WarningState, case: ReviewCase) -> WarningState:
    """``state`` with ``case`` added (replacing a case of the same id), decided cases
    beyond :data:`MAX_DECIDED_KEPT` dropped, oldest first."""
    cases = [existing for existing in state.cases if existing.case_id != case.case_id]
    cases.append(case)
    decided = [c for c in cases if c.status == "decided"]
    dropped = {c.case_id for c in decided[: max(0, len(decided) - MAX_DECIDED_KEPT)]}
    return state.model_copy(update={"cases": tuple(c for c in cases if c.case_id not in dropped)})


def find_case(state: WarningState | None, wanted: str) -> ReviewCase:
    """The case ``wanted`` of this state; CaseNotFoundError otherwise."""
    if state is not None:
        for case in state.cases:
            if case.case_id == wanted:
                return case
    raise CaseNotFoundError(f"no case {wanted}")


def check_reviewer(case: ReviewCase, role: str) -> None:
    """CaseForbiddenError unless ``role`` may decide ``case``: analysts and approvers
    decide rule reviews, only approvers decide escalations."""
    allowed = ("approver",) if case.reviewer == "approver" else ("analyst", "approver")
    if role not in allowed:
        raise CaseForbiddenError(f"case {case.case_id} needs the {case.reviewer} role")


def claim_case(
    state: WarningState, wanted: str, actor: str, role: str, now: datetime
) -> WarningState:
    """``actor`` (with ``role``) takes the case. Claiming a case one already holds changes
    nothing; a case another person holds, or a decided one, raises CaseConflictError."""
    case = find_case(state, wanted)
    check_reviewer(case, role)
    if case.status == "decided":
        raise CaseConflictError(f"case {wanted} was already decided by {case.decided_by}")
    if case.status == "claimed":
        if case.claimed_by == actor:
            return state
        raise CaseConflictError(f"case {wanted} is claimed by {case.claimed_by}")
    claimed = case.model_copy(update={"status": "claimed", "claimed_by": actor, "claimed_at": now})
    return with_case(state, claimed).model_copy(
        update={"updated_at": now, "version": state.version + 1}
    )


def decide_case(
    state: WarningState,
    wanted: str,
    decision: CaseDecision,
    actor: str,
    role: str,
    comment: str,
    now: datetime,
) -> Evaluation:
    """Decides a case the ``actor`` has claimed (an unclaimed one is claimed at once).

    Raises StateError for an empty comment or actor, or for escalating an escalation;
    CaseNotFoundError for an unknown case; CaseForbiddenError when ``role`` may not
    decide it; CaseConflictError when it is decided already or held by someone else.
    The decision's actions carry ``case_id`` and ``review_outcome``; their ids derive
    from the case and the decision, so a retried decision yields the same ids.
    """
    if not comment.strip() or not actor.strip():
        raise StateError("a decision needs a comment and a reviewer")
    if len(comment) > MAX_COMMENT:
        raise StateError(f"a comment has at most {MAX_COMMENT} characters")
    case = find_case(state, wanted)
    check_reviewer(case, role)
    if case.status == "decided":
        raise CaseConflictError(f"case {wanted} was already decided by {case.decided_by}")
    if case.status == "claimed" and case.claimed_by != actor:
        raise CaseConflictError(f"case {wanted} is claimed by {case.claimed_by}")
    if decision == "escalate" and case.origin == "escalation":
        raise StateError("an escalated case is confirmed or released, not escalated again")
    issue = _Issuer(state, case, decision, actor, comment, now)
    holds = list(state.holds)
    follow_up: ReviewCase | None = None
    if decision == "release":
        holds = issue.release(holds)
    elif decision == "escalate":
        holds, follow_up = issue.escalate(holds)
    if not issue.actions:
        issue.notice()
    decided = case.model_copy(
        update={
            "status": "decided",
            "claimed_by": case.claimed_by or actor,
            "claimed_at": case.claimed_at or now,
            "decision": decision,
            "decided_by": actor,
            "decided_at": now,
            "comment": comment,
            "decision_action_ids": tuple(a.action_id for a in issue.actions),
        }
    )
    before = Enforced.of(state.holds)
    after = Enforced.of(holds)
    new_state = with_case(state, decided)
    if follow_up is not None:
        new_state = with_case(new_state, follow_up)
    new_state = new_state.model_copy(
        update={
            "holds": tuple(holds),
            "status_since": now if after.status != before.status else state.status_since,
            "updated_at": now,
            "version": state.version + 1,
        }
    )
    return Evaluation(issue.actions, new_state)


class _Issuer:
    """Builds the actions of one decision."""

    def __init__(
        self,
        state: WarningState,
        case: ReviewCase,
        decision: CaseDecision,
        actor: str,
        comment: str,
        now: datetime,
    ) -> None:
        self.state = state
        self.case = case
        self.decision = decision
        self.outcome = _OUTCOMES[decision]
        self.reason = f"case {case.case_id} {self.outcome} by {actor}: {comment}"
        self.now = now
        self.actions: list[RiskAction] = []

    def _issue(
        self,
        action: ActionType,
        severity: RiskLevel,
        limit: float | None,
        granted: float | None = None,
    ) -> RiskAction:
        triggered_by = f"case:{self.case.case_id}:{self.decision}"
        issued = RiskAction(
            action_id=action_id(
                self.case.customer_id, CASE_RULE_ID, CASE_RULE_VERSION, action, triggered_by
            ),
            customer_id=self.case.customer_id,
            action=action,
            credit_limit=limit,
            severity=severity,
            rule_id=CASE_RULE_ID,
            rule_version=CASE_RULE_VERSION,
            reason=self.reason,
            score=self.state.last_score,
            grade=self.state.last_grade,
            model_version=self.case.model_version,
            triggered_by=triggered_by,
            issued_at=self.now,
            case_id=self.case.case_id,
            review_outcome=self.outcome,
            limit_granted=granted,
        )
        self.actions.append(issued)
        return issued

    def release(self, holds: list[ActiveAction]) -> list[ActiveAction]:
        """Lifts the holds under review; one reversal per kind of restriction whose
        lifting changes what the order system enforces."""
        reviewed = set(self.case.holds)
        for reversal, undone in REVERSALS.items():
            before = Enforced.of(holds)
            kept = [h for h in holds if not (h.action_id in reviewed and h.action in undone)]
            after = Enforced.of(kept)
            holds = kept
            if before.differs_for(reversal, after):
                limit = after.limit if reversal == "restore_limit" else None
                self._issue(reversal, "green", limit)
        return holds

    def escalate(self, holds: list[ActiveAction]) -> tuple[list[ActiveAction], ReviewCase]:
        """Opens the approvers' case. A rule's review also freezes credit under the case's
        own hold, which the approvers' case reviews with the original holds; an appeal or
        a limit application is only passed on (the customer asked; nothing is frozen)."""
        reviewed = self.case.holds
        if self.case.origin == "rule_review":
            freeze = self._issue("freeze_credit", "red", None)
            holds = [
                *holds,
                ActiveAction(
                    action_id=freeze.action_id,
                    action="freeze_credit",
                    rule_id=CASE_RULE_ID,
                    reason=self.reason,
                    issued_at=self.now,
                    severity="red",
                ),
            ]
            reviewed = (*reviewed, freeze.action_id)
        follow_up = ReviewCase(
            case_id=case_id(self.case.customer_id, "escalation", self.case.case_id),
            origin="escalation",
            reference=self.case.case_id,
            customer_id=self.case.customer_id,
            opened_at=self.now,
            reviewer="approver",
            rule_id=self.case.rule_id,
            rule_version=self.case.rule_version,
            reason=self.reason,
            severity="red",
            score=self.state.last_score,
            grade=self.state.last_grade,
            model_version=self.case.model_version,
            triggered_by=self.case.triggered_by,
            reason_codes=self.case.reason_codes,
            holds=reviewed,
            statement=self.case.statement,
            limit_requested=self.case.limit_requested,
            limit_offered=self.case.limit_offered,
        )
        return holds, follow_up

    def notice(self) -> None:
        """A decision that changes no restriction still tells the order system (and the
        customer) the review is over; releasing a limit application grants its limit."""
        released = self.decision == "release"
        granted = self.case.limit_offered if released else None
        self._issue("notify", "green" if released else "yellow", None, granted)
