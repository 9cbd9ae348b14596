"""The score API's policies around the model: the fallback answer when the model cannot
give one, the thin-file default for a customer never seen, and how the warning service's
risk state bounds what the model allows."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.actions import AccountStatus, CustomerRiskState
from schemas.scores import Decision, Grade, ReasonCode, RiskLevel, ScoreRequest

ON_CREDIT_METHODS = frozenset({"bnpl", "instalment"})
"""Payment methods that draw on the customer's credit limit."""

NO_MODEL_VERSION = "none"
"""``model_version`` of an answer given while no model is loaded."""


class FallbackReason:
    """Why an answer came from the fallback policy instead of the model."""

    REDIS_UNAVAILABLE = "redis_unavailable"
    STORE_REBUILDING = "store_rebuilding"
    """A writer's epoch key is missing or incomplete (Redis lost data and is being
    rebuilt from Kafka): a customer without keys may be new or lost, so nobody is scored
    by the model or the thin-file policy until the store is whole again."""
    FEATURES_STALE = "features_stale"
    FEATURES_UNREADABLE = "features_unreadable"
    MODEL_UNAVAILABLE = "model_unavailable"
    INFERENCE_ERROR = "inference_error"
    INFERENCE_TIMEOUT = "inference_timeout"


THIN_FILE_REASON = ReasonCode(
    code="R_NO_HISTORY",
    feature="days_since_first_event",
    value=None,
    impact=0.0,
    text="We have no order or payment history for this customer yet.",
)


@dataclass(frozen=True, slots=True)
class FallbackPolicy:
    """The configured answer when the model cannot give one. ``credit_decision`` is never
    ``approve`` (settings refuse it): a frozen customer must not be approved on credit
    when the risk state could not be read."""

    credit_decision: Decision
    other_decision: Decision
    grade: Grade
    risk_level: RiskLevel
    score: int
    probability_of_default: float
    credit_limit: float

    def decision(self, request: ScoreRequest, risk: CustomerRiskState | None) -> Decision:
        """A suspended account is declined; otherwise the configured decision for an
        order on credit or for any other order."""
        if account_status(risk) == "suspended":
            return "decline"
        return self.credit_decision if on_credit(request) else self.other_decision


@dataclass(frozen=True, slots=True)
class ThinFileDefault:
    """The thin-file policy used when the serving bundle's manifest has none."""

    probability_of_default: float
    grade: Grade
    credit_limit: float


def on_credit(request: ScoreRequest) -> bool:
    """Whether the order draws on credit. Without an order the question is whether credit
    is open to the customer at all, so it counts as on credit."""
    return request.order is None or request.order.payment_method in ON_CREDIT_METHODS


def account_status(risk: CustomerRiskState | None) -> AccountStatus:
    """The status the warning service set (``active`` for a customer it never judged)."""
    return "active" if risk is None else risk.status


def capped_limit(limit: float, risk: CustomerRiskState | None) -> float:
    """The model's (or a policy's) limit, capped by a limit the warning service imposed."""
    if risk is not None and risk.credit_limit is not None:
        return min(limit, risk.credit_limit)
    return limit
