"""Small record builders for the portfolio report's tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.actions import RiskAction
from schemas.decisions import DecisionRecord
from schemas.records import AuditRecord
from schemas.scores import Decision, Grade, ReasonCode, ScoreRecord

START = datetime(2026, 7, 1, tzinfo=UTC)
GRADE_SCORES: dict[Grade, int] = {"S": 780, "A": 700, "B": 630, "C": 560, "D": 450}


def score(
    customer_id: str,
    grade: Grade,
    day: float,
    model_version: str = "v1",
    reason: str | None = "R_LATE",
) -> ScoreRecord:
    at = START + timedelta(days=day)
    reasons = (
        [ReasonCode(code=reason, feature="repayments_late_90d", value=2.0, impact=0.4)]
        if reason
        else []
    )
    return ScoreRecord(
        score_id=f"{customer_id}-{day}-{model_version}",
        customer_id=customer_id,
        score=GRADE_SCORES[grade],
        probability_of_default=0.05,
        grade=grade,
        risk_level="green",
        credit_limit=1000.0,
        reasons=reasons,
        model_version=model_version,
        feature_schema_version=1,
        features={},
        features_as_of=at,
        triggered_by=f"e-{customer_id}-{day}",
        scored_at=at,
    )


def action(customer_id: str, kind: str, day: float, severity: str = "red") -> RiskAction:
    return RiskAction.model_validate(
        {
            "action_id": f"{customer_id}-{kind}-{day}",
            "customer_id": customer_id,
            "action": kind,
            "severity": severity,
            "rule_id": f"rule-{kind}",
            "rule_version": "1",
            "reason": "test",
            "triggered_by": "s1",
            "issued_at": (START + timedelta(days=day)).isoformat(),
        }
    )


def audit(operation: str, subject: str, day: float) -> AuditRecord:
    return AuditRecord(
        audit_id=f"{operation}-{day}",
        service="scorer",
        actor="admin",
        operation=operation,
        subject=subject,
        reason="quarterly retrain",
        at=START + timedelta(days=day),
    )


def decision(customer_id: str, verdict: Decision, day: float, number: int = 0) -> DecisionRecord:
    """A decision of the score API on ``day`` of the period."""
    at = START + timedelta(days=day)
    decision_id = f"{customer_id}{number:04d}".encode().hex()[:32].ljust(32, "0")
    return DecisionRecord.model_validate(
        {
            "decision_id": decision_id,
            "decided_at": at.isoformat(),
            "customer_id": customer_id,
            "request": {"customer_id": customer_id},
            "answer": {
                "customer_id": customer_id,
                "score": 600,
                "probability_of_default": 0.05,
                "grade": "B",
                "risk_level": "green",
                "decision": verdict,
                "credit_limit": 1000.0,
                "available_credit": 1000.0,
                "reasons": [],
                "model_version": "v1",
                "features_as_of": at.isoformat(),
                "fallback": False,
                "fallback_reason": None,
                "decision_id": decision_id,
            },
            "caller": "client:00000000",
        }
    )
