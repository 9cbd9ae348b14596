"""Limit applications: a customer asks for a higher credit limit and gets a decision at once.

The decision rests on two things: the model's judgement of the customer now (a score
answer of the score service, whose ``credit_limit`` is already capped by any limit the
rules imposed, and whose ``decision_id`` names its record on the decision log) and the
customer's warning state (the holds in force). The answer never exceeds either:

=====================================  =========  ===========================================
situation                              outcome    limit
=====================================  =========  ===========================================
account suspended, or credit frozen    decline    none
grade D                                decline    none
the ceiling is not above the current   decline    none (``L_NO_HEADROOM``)
limit (nothing more to give)
no history yet (thin file), grade C,   refer      a review case opens; releasing it grants
or a limit cut / prepayment in force              at most ``min(requested, ceiling)``
otherwise                              approve    ``min(requested, ceiling)``
=====================================  =========  ===========================================

where the *ceiling* is the model's limit for the customer now, capped by any limit a rule
imposed. An approval is also a ``notify`` action on ``risk.actions`` carrying
``limit_granted``, so the order system applies it like any other action; a referral's case
issues the same when a reviewer releases it. One referral at a time per customer: an
application while one is under review gets :class:`LimitApplicationConflictError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from schemas.actions import RiskAction
from schemas.scores import Grade
from services.warning.core.case_record import ReviewCase
from services.warning.core.cases import case_id, with_case
from services.warning.core.state import Enforced, WarningState, action_id
from services.warning.errors import LimitApplicationConflictError

LimitOutcome = Literal["approve", "refer", "decline"]
LIMIT_RULE_ID: Final = "limit-application"
"""``rule_id`` of the action that grants an approved application."""
LIMIT_RULE_VERSION: Final = "limit"
MAX_MODEL_REASONS: Final = 2
REFERRED_GRADES: Final = frozenset({"C"})
DECLINED_GRADES: Final = frozenset({"D"})


@dataclass(frozen=True, slots=True)
class LimitReason:
    """Why: a stable code (``L_...`` for the policy, ``R_...`` for the model's reasons)
    and a sentence."""

    code: str
    text: str


@dataclass(frozen=True, slots=True)
class LimitAssessment:
    """The model's judgement the application is decided on: a score answer (no order)."""

    decision_id: str
    score: int
    grade: Grade
    credit_limit: float
    model_version: str
    thin_file: bool
    reasons: tuple[LimitReason, ...] = ()
    """The model's adverse reasons, most adverse first."""


@dataclass(frozen=True, slots=True)
class LimitDecision:
    """The outcome. ``state`` is the customer's state to store (a referral's case added;
    None: unchanged); ``action`` the grant to publish (approvals)."""

    outcome: LimitOutcome
    requested: float
    ceiling: float
    approved_limit: float | None
    reasons: tuple[LimitReason, ...]
    case: ReviewCase | None = None
    action: RiskAction | None = None
    state: WarningState | None = None


def _money(amount: float) -> str:
    return f"{amount:,.2f}"


def decide_limit_application(
    state: WarningState | None,
    customer_id: str,
    assessment: LimitAssessment,
    requested: float,
    current_limit: float | None,
    now: datetime,
) -> LimitDecision:
    """Decides an application for ``requested`` (see the module's table). Raises
    LimitApplicationConflictError while an earlier application is under review."""
    current = state if state is not None else WarningState(customer_id=customer_id)
    for case in current.cases:
        if case.is_open and case.limit_offered is not None:
            raise LimitApplicationConflictError(
                f"an earlier limit application is under review (case {case.case_id})"
            )
    enforced = Enforced.of(current.holds)
    ceiling = assessment.credit_limit
    if enforced.limit is not None:
        ceiling = min(ceiling, enforced.limit)
    model = assessment.reasons[:MAX_MODEL_REASONS]

    def decline(reason: LimitReason) -> LimitDecision:
        return LimitDecision("decline", requested, ceiling, None, (reason, *model))

    if enforced.suspended:
        return decline(LimitReason("L_ACCOUNT_SUSPENDED", "The account is suspended."))
    if enforced.frozen:
        return decline(LimitReason("L_CREDIT_FROZEN", "Credit on the account is frozen."))
    if assessment.grade in DECLINED_GRADES:
        return decline(
            LimitReason("L_GRADE", f"Grade {assessment.grade} does not qualify for more credit.")
        )
    floor = current_limit or 0.0
    if ceiling <= floor:
        return decline(
            LimitReason(
                "L_NO_HEADROOM",
                f"The most the assessment allows now is {_money(ceiling)}, "
                f"not above the current limit.",
            )
        )
    offered = min(requested, ceiling)
    referral = _referral_reason(assessment, enforced)
    if referral is not None:
        case = ReviewCase(
            case_id=case_id(customer_id, "limit_application", assessment.decision_id),
            origin="limit_application",
            reference=assessment.decision_id,
            customer_id=customer_id,
            opened_at=now,
            reason=f"Limit application for {_money(requested)} referred: {referral.text} "
            f"Releasing it grants {_money(offered)}.",
            severity="yellow",
            score=assessment.score,
            grade=assessment.grade,
            model_version=assessment.model_version,
            triggered_by=assessment.decision_id,
            reason_codes=tuple(reason.code for reason in model),
            limit_requested=requested,
            limit_offered=offered,
        )
        referred = with_case(current, case).model_copy(
            update={"updated_at": now, "version": current.version + 1}
        )
        return LimitDecision(
            "refer", requested, ceiling, None, (referral, *model), case=case, state=referred
        )
    reasons: Sequence[LimitReason]
    if requested > ceiling:
        reasons = (
            LimitReason(
                "L_CAPPED",
                f"Approved up to {_money(ceiling)}: the most the assessment allows now.",
            ),
            *model,
        )
    else:
        reasons = (LimitReason("L_APPROVED", "The requested limit is within what is allowed."),)
    triggered_by = f"limit-application:{assessment.decision_id}"
    grant = RiskAction(
        action_id=action_id(customer_id, LIMIT_RULE_ID, LIMIT_RULE_VERSION, "notify", triggered_by),
        customer_id=customer_id,
        action="notify",
        severity="green",
        rule_id=LIMIT_RULE_ID,
        rule_version=LIMIT_RULE_VERSION,
        reason=f"Limit application approved: {_money(offered)} "
        f"(requested {_money(requested)}). {reasons[0].text}",
        score=assessment.score,
        grade=assessment.grade,
        model_version=assessment.model_version,
        triggered_by=triggered_by,
        issued_at=now,
        decision_id=assessment.decision_id,
        limit_granted=offered,
    )
    return LimitDecision("approve", requested, ceiling, offered, tuple(reasons), action=grant)


def _referral_reason(assessment: LimitAssessment, enforced: Enforced) -> LimitReason | None:
    if assessment.thin_file:
        return LimitReason(
            "L_NO_HISTORY", "There is no repayment history yet; a person reviews it."
        )
    if assessment.grade in REFERRED_GRADES:
        return LimitReason(
            "L_GRADE", f"Grade {assessment.grade} applications are reviewed by a person."
        )
    if enforced.prepayment or enforced.limit is not None:
        return LimitReason(
            "L_RESTRICTED", "A limit cut or prepayment is in force; a person reviews it."
        )
    return None
