"""The sync score API (CONTRACTS.md, "Sync score API") and the ``risk.scores`` record."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import GRADES as GRADES  # defined there, importable from here too
from schemas.common import STRICT, Amount, Currency, Identifier, Timestamp
from schemas.common import Grade as Grade
from schemas.events import PaymentMethod, TriggerType
from schemas.tiers import ServiceTier

RiskLevel = Literal["green", "yellow", "red"]
Decision = Literal["approve", "prepay", "review", "decline"]
MAX_BATCH = 1_000


class OrderContext(BaseModel):
    """The order in hand at checkout; without it the answer is about the customer alone."""

    model_config = STRICT

    amount: Amount
    currency: Currency
    payment_method: PaymentMethod


class ScoreRequest(BaseModel):
    model_config = STRICT

    customer_id: Identifier
    order: OrderContext | None = None


class ScoreBatchRequest(BaseModel):
    model_config = STRICT

    requests: list[ScoreRequest] = Field(min_length=1, max_length=MAX_BATCH)


class ReasonCode(BaseModel):
    """One reason behind a score, most adverse first in any list of them."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(description="Stable reason code, e.g. R_LATE_REPAYMENTS.")
    feature: str = Field(description="The feature it is about.")
    value: float | None = Field(description="The feature's value; null when undefined.")
    impact: float = Field(description="Contribution to the log-odds of default; > 0 is adverse.")
    text: str = Field(default="", description="A sentence a customer or analyst can read.")


class LeverStep(BaseModel):
    """One feasible change of behaviour in a counterfactual: ``lever`` names it (e.g.
    ``on_time_repayments``), ``amount`` says how much (e.g. 2 repayments; 1 for a change
    that has no amount)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lever: str
    amount: int = Field(default=1, ge=1)


class FeatureChange(BaseModel):
    """A feature value a counterfactual changes (null = undefined)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    feature: str
    current: float | None
    changed: float | None


class Counterfactual(BaseModel):
    """Feasible changes of behaviour that bring a customer to ``grade``: the feature row
    with ``changes`` applied (every other feature as it is) was scored by ``model_version``
    and came out at ``score`` and ``grade``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: list[LeverStep]
    changes: list[FeatureChange]
    grade: Grade
    score: int = Field(ge=300, le=900)
    model_version: str


class ScoreResponse(BaseModel):
    """Answer of ``POST /v1/score``. ``fallback`` is true when a configured policy, not the
    model, produced it; ``fallback_reason`` then names why. ``decision_id`` names the
    decision's record on ``risk.decisions`` (``GET /v1/decisions/{id}``)."""

    model_config = ConfigDict(frozen=True)

    customer_id: str
    score: int = Field(ge=300, le=900)
    probability_of_default: float = Field(ge=0, le=1)
    grade: Grade
    risk_level: RiskLevel
    decision: Decision
    credit_limit: float = Field(ge=0)
    available_credit: float = Field(ge=0)
    reasons: list[ReasonCode]
    model_version: str
    features_as_of: Timestamp | None
    fallback: bool
    fallback_reason: str | None
    decision_id: str | None = None
    service_tier: ServiceTier | None = Field(
        default=None,
        description="What the grade earns besides the limit: repayment terms, promotions, "
        "monitoring, VIP treatment (nothing on credit while the account is frozen or "
        "suspended).",
    )
    thin_file: bool = Field(
        default=False,
        description="The customer has no behaviour history yet (no order, payment, refund or "
        "review): the thin-file policy's answer for a customer never seen, or the model's "
        "on onboarding data alone, graded under the thin-file cap.",
    )


class ScoreBatchResponse(BaseModel):
    results: list[ScoreResponse]


class ScoreRecord(BaseModel):
    """A streaming score on ``risk.scores``: what the warning service judges.

    ``score_id`` is stable for a given trigger and model version, so a replay yields the same
    id. ``features`` carries the vector the model saw (null = undefined), so rules can use
    feature values without a second lookup.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    score_id: str
    customer_id: Identifier
    score: int = Field(ge=300, le=900)
    probability_of_default: float = Field(ge=0, le=1)
    grade: Grade
    risk_level: RiskLevel
    credit_limit: float = Field(ge=0)
    reasons: list[ReasonCode]
    model_version: str
    feature_schema_version: int
    features: dict[str, float | None]
    features_as_of: Timestamp
    triggered_by: str = Field(
        description="The event_id whose arrival caused this score; a shared signal's match "
        "id when a signal reaching the customer caused it; for a re-score of a dormant "
        "customer, rescore:<day>:<customer_id>."
    )
    trigger_event_type: TriggerType | None = Field(
        default=None,
        description="The triggering event's type (shared_signal for a signal); null for a "
        "re-score.",
    )
    event_occurred_at: Timestamp | None = None
    scored_at: Timestamp
    locale: str | None = Field(
        default=None, description="The customer's language, when the triggering event gave it."
    )
    improvements: list[Counterfactual] = Field(
        default_factory=list,
        description="For a low grade: the least changes found that reach each better grade "
        "up to B, each verified by scoring the changed row.",
    )
