"""The decision log (``risk.decisions``) and the customer's explanation
(``GET /v1/customers/{customer_id}/explanation``).

Every answer of the sync score API is a decision about a customer, and each is recorded
once, frozen, on ``risk.decisions``: what was asked, what was answered, on which model and
feature values, and who asked. An appeal or an audit names it by ``decision_id``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.actions import AccountStatus, ActionType
from schemas.common import Identifier, Timestamp
from schemas.scores import FeatureChange, Grade, LeverStep, RiskLevel, ScoreRequest, ScoreResponse

DECISION_RECORD_VERSION: Literal[1] = 1


class DecisionRecord(BaseModel):
    """One answer of ``POST /v1/score`` or ``:batch``, as it was given.

    ``answer`` carries the model version, reason codes, ``features_as_of`` and the fallback
    reason; ``features`` are the values the model saw (null: undefined; absent for a
    fallback or thin-file answer, which used none). ``caller`` is the API key's label,
    never the key.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    decision_id: str
    decided_at: Timestamp
    customer_id: Identifier
    request: ScoreRequest
    answer: ScoreResponse
    feature_schema_version: int | None = None
    features: dict[str, float | None] | None = None
    account_status: AccountStatus | None = Field(
        default=None,
        description="The status the warning service had set, as read for this decision "
        "(null when the risk state could not be read).",
    )
    caller: str = Field(description="The API key's label, e.g. client:1a2b3c4d.")
    request_id: str | None = Field(default=None, description="The request's X-Request-ID.")
    batch_size: int = Field(default=1, ge=1, description="Requests in the call (1: /v1/score).")
    batch_index: int = Field(default=0, ge=0, description="This request's place in the batch.")
    record_version: Literal[1] = DECISION_RECORD_VERSION


class ExplanationReason(BaseModel):
    """A principal reason, ranked by its contribution to the served model's log-odds of
    default (rank 1 weighs most)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rank: int = Field(ge=1)
    code: str
    feature: str
    value: float | None
    contribution: float = Field(description="Log-odds of default it adds (> 0: adverse).")
    text: str


class ExplanationImprovement(BaseModel):
    """Feasible changes that would bring the customer to ``grade``: the changed feature
    row was scored by the served model and came out at ``score``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    steps: list[LeverStep]
    changes: list[FeatureChange]
    grade: Grade
    score: int = Field(ge=300, le=900)


class ExplanationRestriction(BaseModel):
    """An action in effect on the account, with what it means."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: ActionType
    action_id: str
    since: Timestamp
    text: str


class CustomerExplanation(BaseModel):
    """``GET /v1/customers/{customer_id}/explanation``: the customer's current standing in
    plain language (``lang``), the principal reasons behind it, what would improve it, the
    procedure that produced it and how to appeal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: Identifier
    lang: str
    generated_at: Timestamp
    model_version: str
    features_as_of: Timestamp | None
    grade: Grade
    score: int = Field(ge=300, le=900)
    risk_level: RiskLevel
    credit_limit: float = Field(ge=0)
    available_credit: float = Field(ge=0)
    account_status: AccountStatus
    prepayment_required: bool
    fallback_reason: str | None = Field(
        description="Set when the model could not judge (the configured policy applies)."
    )
    summary: str
    restrictions: list[ExplanationRestriction]
    reasons: list[ExplanationReason]
    improvements: list[ExplanationImprovement]
    procedure: str = Field(description="How the grade, limit and decisions are made.")
    appeal: str
