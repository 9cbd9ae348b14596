"""Risk actions on ``risk.actions`` (CONTRACTS.md, "Risk actions") and the customer risk
state the warning service keeps and the scorer reads."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Identifier, Timestamp
from schemas.scores import Grade, LeverStep, RiskLevel
from schemas.tiers import ServiceTier

ActionType = Literal[
    "notify",
    "require_prepayment",
    "cut_limit",
    "restore_limit",
    "manual_review",
    "freeze_credit",
    "unfreeze_credit",
    "suspend_account",
    "reinstate_account",
]
ACTION_TYPES: tuple[ActionType, ...] = (
    "notify",
    "require_prepayment",
    "cut_limit",
    "restore_limit",
    "manual_review",
    "freeze_credit",
    "unfreeze_credit",
    "suspend_account",
    "reinstate_account",
)
AccountStatus = Literal["active", "limited", "frozen", "suspended"]
ACCOUNT_STATUSES: tuple[AccountStatus, ...] = ("active", "limited", "frozen", "suspended")
ReviewOutcome = Literal["confirmed", "released", "escalated"]

RESTRICTING_ACTIONS: frozenset[ActionType] = frozenset(
    {"cut_limit", "freeze_credit", "require_prepayment", "suspend_account"}
)
"""Actions that restrict credit: each carries an adverse-action notice."""


class NoticeReason(BaseModel):
    """A principal reason of an adverse action, in the notice's language."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(description="The reason code (R_...) or the rule that acted.")
    text: str


class NoticeImprovement(BaseModel):
    """What would improve the customer's standing: feasible changes, found by the model
    (re-scored into ``grade``) and checked against the rule that acted
    (``lifts_restriction``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    steps: list[LeverStep]
    grade: Grade | None = Field(description="The grade the changed row scored into, if any.")
    lifts_restriction: bool = Field(
        description="The rule's exit condition holds on the changed row (it lifts once the "
        "rule's minimum time has passed)."
    )


class AdverseActionNotice(BaseModel):
    """What the order system tells a customer about an action that restricts credit: the
    principal reasons, what would improve them, and how to appeal, in ``locale``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    locale: str = Field(description="The language of every text here (zh-CN or en).")
    title: str
    summary: str = Field(description="What changed for the customer.")
    reasons: list[NoticeReason]
    improvement: NoticeImprovement | None = None
    appeal: str = Field(description="How to appeal, quoting ``appeal_reference``.")
    appeal_reference: str = Field(description="The action_id an appeal names.")
    body: str = Field(description="Everything above as one message, ready to send.")


class RiskAction(BaseModel):
    """One graded action for the order system. ``action_id`` is derived from the trigger,
    so the same trigger always yields the same id and a consumer applies it once.

    ``credit_limit`` is the new limit for ``cut_limit``; for ``restore_limit`` it is the limit
    other rules still impose, or null when the model's limit applies again; null otherwise.

    ``case_id`` and ``review_outcome`` tie an action to a review case: a ``manual_review``
    action names the case it opens; the actions of a decision name the case and its
    outcome (both optional, absent on other actions)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action_id: str
    customer_id: Identifier
    action: ActionType
    credit_limit: float | None = Field(default=None, ge=0)
    severity: RiskLevel
    rule_id: str
    rule_version: str
    reason: str
    score: int | None = Field(default=None, ge=300, le=900)
    grade: Grade | None = None
    model_version: str | None = None
    triggered_by: str
    issued_at: Timestamp
    case_id: str | None = Field(
        default=None,
        description="The review case this action opens (manual_review) or decides.",
    )
    review_outcome: ReviewOutcome | None = Field(
        default=None,
        description="Set on the actions of a review decision: confirmed and released close "
        "the review; escalated passes it to an approver.",
    )
    decision_id: str | None = Field(
        default=None,
        description="The decision behind the action: the score_id of the streamed score "
        "the rules judged (null for a manual override).",
    )
    notice: AdverseActionNotice | None = Field(
        default=None,
        description="For an action that restricts credit: the notice to deliver.",
    )
    limit_granted: float | None = Field(
        default=None,
        ge=0,
        description="Set on the notify that grants a limit application: the credit limit "
        "the customer may now use (never above what the model and the rules allowed).",
    )


class ActiveAction(BaseModel):
    """An action still in effect for a customer, with why it was taken."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action_id: str
    action: ActionType
    rule_id: str
    reason: str
    issued_at: Timestamp
    severity: RiskLevel | None = None
    credit_limit: float | None = Field(default=None, ge=0)


class CustomerRiskState(BaseModel):
    """What the warning service knows of a customer, stored in Redis for the score API and
    served at ``GET /v1/customers/{customer_id}/risk``.

    ``credit_limit`` is the limit the warning service imposes (null: the model's limit
    applies). A ``frozen`` or ``suspended`` customer is never approved on credit; with
    ``prepayment_required`` an order on credit must be prepaid.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: Identifier
    status: AccountStatus = "active"
    credit_limit: float | None = Field(default=None, ge=0)
    prepayment_required: bool = False
    active_actions: list[ActiveAction] = Field(default_factory=list)
    last_score: int | None = None
    last_grade: Grade | None = None
    status_since: Timestamp | None = None
    updated_at: Timestamp | None = None
    version: int = Field(default=0, ge=0, description="Bumped on every change.")
    locale: str | None = Field(
        default=None, description="The customer's language, from their latest event giving one."
    )
    service_tier: ServiceTier | None = Field(
        default=None,
        description="The tier of the last grade under the account's status (repayment "
        "terms, promotions, monitoring, VIP); null before the first score.",
    )
