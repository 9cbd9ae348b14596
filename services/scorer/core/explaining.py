"""A customer's explanation in plain language (``GET /v1/customers/{id}/explanation``):
their current standing as the score API answers it, the principal reasons ranked by their
contribution in the served model, the counterfactuals that would improve the grade, the
procedure behind it all and how to appeal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from schemas.actions import CustomerRiskState
from schemas.decisions import (
    CustomerExplanation,
    ExplanationImprovement,
    ExplanationReason,
    ExplanationRestriction,
)
from schemas.scores import Counterfactual
from services.common.texts import Texts
from services.scorer.core.policy import THIN_FILE_REASON, account_status

BEST_GRADE = "S"


def customer_explanation(
    *,
    customer_id: str,
    texts: Texts,
    now: datetime,
    answer: Mapping[str, Any],
    risk: CustomerRiskState | None,
    counterfactuals: Sequence[Counterfactual],
    features: Mapping[str, float | None] | None,
) -> CustomerExplanation:
    """The explanation of a score answer (``answer``, as :func:`score_answer` builds it),
    with the risk state it was decided under and the verified counterfactuals."""
    status = account_status(risk)
    prepayment = risk is not None and risk.prepayment_required
    thin_file = any(r["code"] == THIN_FILE_REASON.code for r in answer["reasons"])
    fallback = answer["fallback_reason"]
    summary = [
        texts(
            "explanation.summary",
            grade=answer["grade"],
            score=texts.number(answer["score"]),
            limit=texts.money(answer["credit_limit"]),
            available=texts.money(answer["available_credit"]),
        ),
        texts(f"explanation.status.{status}"),
    ]
    if prepayment:
        summary.append(texts("explanation.prepayment"))
    if fallback is not None:
        summary.append(texts("explanation.fallback"))
    elif thin_file:
        summary.append(texts("explanation.thin_file"))
    elif answer["grade"] == BEST_GRADE:
        summary.append(texts("explanation.best_grade"))
    elif not counterfactuals:
        summary.append(texts("explanation.no_improvement"))
    if fallback is None and not answer["reasons"]:
        summary.append(texts("explanation.no_reasons"))
    return CustomerExplanation(
        customer_id=customer_id,
        lang=texts.language,
        generated_at=now,
        model_version=answer["model_version"],
        features_as_of=answer["features_as_of"],
        grade=answer["grade"],
        score=answer["score"],
        risk_level=answer["risk_level"],
        credit_limit=answer["credit_limit"],
        available_credit=answer["available_credit"],
        account_status=status,
        prepayment_required=prepayment,
        fallback_reason=fallback,
        summary=" ".join(summary),
        restrictions=[
            ExplanationRestriction(
                action=action.action,
                action_id=action.action_id,
                since=action.issued_at,
                text=texts(
                    f"restriction.{action.action}", amount=texts.money(action.credit_limit or 0)
                )
                if texts.has(f"restriction.{action.action}")
                else action.action,
            )
            for action in (risk.active_actions if risk is not None else [])
        ],
        reasons=[
            ExplanationReason(
                rank=rank,
                code=reason["code"],
                feature=reason["feature"],
                value=reason["value"],
                contribution=reason["impact"],
                text=texts.reason(reason["feature"], reason["value"], reason["text"]),
            )
            for rank, reason in enumerate(answer["reasons"], start=1)
        ],
        improvements=[
            ExplanationImprovement(
                text=texts.sentence(
                    "improvement.grade",
                    changes=texts.steps(
                        [(step.lever, step.amount) for step in counterfactual.steps],
                        features or {},
                    ),
                    grade=counterfactual.grade,
                ),
                steps=counterfactual.steps,
                changes=counterfactual.changes,
                grade=counterfactual.grade,
                score=counterfactual.score,
            )
            for counterfactual in counterfactuals
        ],
        procedure=texts("explanation.procedure", model_version=answer["model_version"]),
        appeal=texts("explanation.appeal"),
    )
