"""The score API's answer (CONTRACTS.md, "Sync score API"), built in one place whether the
model, the thin-file policy or the fallback policy gave it."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from schemas.scores import Decision, Grade, ReasonCode, RiskLevel


def reason_dict(reason: ReasonCode) -> dict[str, Any]:
    """A reason code as the answer carries it."""
    return {
        "code": reason.code,
        "feature": reason.feature,
        "value": reason.value,
        "impact": reason.impact,
        "text": reason.text,
    }


def new_decision_id(now: datetime) -> str:
    """A fresh decision id: 32 hex digits, the first 12 the milliseconds since the epoch
    (ids sort by time), the rest random (80 bits: no two answers share one)."""
    return f"{int(now.timestamp() * 1000):012x}{secrets.token_hex(10)}"


def score_answer(
    customer_id: str,
    *,
    score: int,
    probability_of_default: float,
    grade: Grade,
    risk_level: RiskLevel,
    decision: Decision,
    credit_limit: float,
    available_credit: float,
    reasons: Sequence[ReasonCode],
    model_version: str,
    features_as_of: datetime | None,
    fallback_reason: str | None,
    decision_id: str,
    service_tier: Mapping[str, Any] | None = None,
    thin_file: bool = False,
) -> dict[str, Any]:
    """The answer as a JSON-ready dict (built by hand: the hot path serialises it once,
    without a response model). ``fallback`` is true exactly when ``fallback_reason`` is
    given; ``thin_file`` when the customer has no behaviour history (docs/scorer.md,
    "Thin file"). ``service_tier`` is the grade's tier as built once by
    :meth:`services.common.tiers.ServiceTiers.view` (shared, never copied)."""
    return {
        "customer_id": customer_id,
        "score": score,
        "probability_of_default": probability_of_default,
        "grade": grade,
        "risk_level": risk_level,
        "decision": decision,
        "credit_limit": credit_limit,
        "available_credit": available_credit,
        "reasons": [reason_dict(reason) for reason in reasons],
        "model_version": model_version,
        "features_as_of": features_as_of.isoformat() if features_as_of else None,
        "fallback": fallback_reason is not None,
        "fallback_reason": fallback_reason,
        "decision_id": decision_id,
        "service_tier": service_tier,
        "thin_file": thin_file,
    }
