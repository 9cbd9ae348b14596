from __future__ import annotations

from typing import Any

import pytest

from schemas.scores import ScoreResponse
from services.warning.scoring import assessment_of

NOW = "2026-12-01T10:00:00+00:00"


def answer(**changes: Any) -> ScoreResponse:
    body: dict[str, Any] = {
        "customer_id": "c-1",
        "score": 560,
        "probability_of_default": 0.07,
        "grade": "B",
        "risk_level": "green",
        "decision": "approve",
        "credit_limit": 5000,
        "available_credit": 5000,
        "reasons": [],
        "model_version": "v1",
        "features_as_of": NOW,
        "fallback": False,
        "fallback_reason": None,
        "decision_id": "0" * 32,
    }
    return ScoreResponse.model_validate({**body, **changes})


NO_HISTORY = {
    "code": "R_NO_HISTORY",
    "feature": "days_since_first_event",
    "value": None,
    "impact": 0.0,
}


@pytest.mark.parametrize(
    ("changes", "thin_file"),
    [
        ({}, False),
        # Onboarding data only: the model judged it, the answer says it is a thin file.
        ({"thin_file": True}, True),
        # A customer never seen, from a scorer that marks it only by its reason.
        ({"features_as_of": None, "reasons": [NO_HISTORY]}, True),
    ],
)
def test_a_customer_without_history_is_a_thin_file(
    changes: dict[str, Any], thin_file: bool
) -> None:
    assert assessment_of(answer(**changes)).thin_file is thin_file
