from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from riskmodel.manifest import (
    BundleManifest,
    GradeCutoffs,
    LimitPolicy,
    PlattCalibration,
    ScoreScaling,
    ThinFilePolicy,
)
from riskmodel.scaling import (
    assess,
    available_credit,
    calibrate,
    credit_limit,
    decide,
    grade_of,
    score_from_probability,
)
from schemas.scores import GRADES

SCALING = ScoreScaling(base_score=600, base_odds=20, pdo=40, min_score=300, max_score=900)
CUTOFFS = GradeCutoffs(S=750, A=680, B=600, C=520)
LIMITS = LimitPolicy(by_grade={"S": 20000, "A": 10000, "B": 5000, "C": 1000, "D": 0})


def test_base_odds_give_the_base_score_and_doubling_adds_pdo() -> None:
    assert score_from_probability(1 / 21, SCALING) == 600
    assert score_from_probability(1 / 41, SCALING) == 640
    assert score_from_probability(1 / 11, SCALING) == 560


def test_scores_are_clamped_and_fall_as_risk_rises() -> None:
    assert score_from_probability(0.0, SCALING) == 900
    assert score_from_probability(1.0, SCALING) == 300
    scores = [score_from_probability(p / 100, SCALING) for p in range(0, 101)]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan])
def test_score_refuses_a_probability_outside_the_unit_interval(bad: float) -> None:
    with pytest.raises(ValueError, match="probability"):
        score_from_probability(bad, SCALING)


def test_calibration_stays_inside_the_unit_interval_and_keeps_the_order() -> None:
    platt = PlattCalibration(a=1.7, b=-2.3)
    inputs = [0.0, 1e-12, 0.01, 0.2, 0.5, 0.9, 1 - 1e-12, 1.0]
    outputs = [calibrate(p, platt) for p in inputs]
    assert all(0.0 < p < 1.0 for p in outputs)
    assert outputs == sorted(outputs)


def test_identity_calibration_returns_the_input() -> None:
    assert calibrate(0.3, PlattCalibration(a=1.0, b=0.0)) == pytest.approx(0.3)


def test_calibration_shifts_by_the_intercept_in_log_odds() -> None:
    shifted = calibrate(0.5, PlattCalibration(a=1.0, b=math.log(3)))
    assert shifted == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("score", "grade"),
    [
        (900, "S"),
        (750, "S"),
        (749, "A"),
        (680, "A"),
        (679, "B"),
        (600, "B"),
        (520, "C"),
        (519, "D"),
        (300, "D"),
    ],
)
def test_a_score_at_a_cutoff_earns_that_grade(score: int, grade: str) -> None:
    assert grade_of(score, CUTOFFS) == grade


def test_limits_are_flat_for_s_and_d_and_interpolated_between() -> None:
    assert credit_limit(900, "S", CUTOFFS, LIMITS) == 20000
    assert credit_limit(750, "S", CUTOFFS, LIMITS) == 20000
    assert credit_limit(300, "D", CUTOFFS, LIMITS) == 0
    assert credit_limit(680, "A", CUTOFFS, LIMITS) == 10000
    assert credit_limit(715, "A", CUTOFFS, LIMITS) == 15000
    assert credit_limit(560, "C", CUTOFFS, LIMITS) == 3000


def test_limits_never_fall_as_the_score_rises() -> None:
    limits = [credit_limit(s, grade_of(s, CUTOFFS), CUTOFFS, LIMITS) for s in range(300, 901)]
    assert limits == sorted(limits)
    assert all(limit % 100 == 0 for limit in limits)


def test_flat_policy_gives_the_grade_limit() -> None:
    flat = LimitPolicy(by_grade=LIMITS.by_grade, interpolate_within_grade=False)
    assert credit_limit(740, "A", CUTOFFS, flat) == 10000


def test_available_credit_is_floored_at_zero() -> None:
    assert available_credit(5000, 1200.5) == 3799.5
    assert available_credit(1000, 4000) == 0
    assert available_credit(1000, None) == 1000


@pytest.mark.parametrize("grade", GRADES)
@pytest.mark.parametrize("amount", [1.0, 100_000.0])
def test_a_frozen_or_suspended_account_is_never_approved_on_credit(
    grade: str, amount: float
) -> None:
    for status in ("frozen", "suspended"):
        decision = decide(
            grade=grade,
            account_status=status,
            on_credit=True,
            order_amount=amount,
            available=1e9,
        )
        assert decision != "approve"


@pytest.mark.parametrize(
    ("grade", "status", "on_credit", "amount", "available", "expected"),
    [
        ("S", "active", True, 100, 20000, "approve"),
        ("A", "active", True, 30000, 20000, "prepay"),
        ("B", "frozen", True, 10, 5000, "prepay"),
        ("B", "frozen", False, 10, 5000, "approve"),
        ("C", "active", True, 10, 1000, "review"),
        ("B", "limited", True, 10, 1000, "review"),
        ("D", "active", True, 10, 0, "prepay"),
        ("D", "active", False, 10, 0, "review"),
        ("S", "suspended", False, 10, 20000, "decline"),
        ("C", "active", False, 10, 0, "approve"),
    ],
)
def test_decision_table(
    grade: str, status: str, on_credit: bool, amount: float, available: float, expected: str
) -> None:
    assert (
        decide(
            grade=grade,
            account_status=status,
            on_credit=on_credit,
            order_amount=amount,
            available=available,
        )
        == expected
    )


def _manifest() -> BundleManifest:
    return BundleManifest.model_validate(
        {
            "model_version": "20261127-abcdef12",
            "created_at": datetime(2026, 11, 27, tzinfo=UTC),
            "feature_schema_version": 1,
            "feature_names": ["late"],
            "data_fingerprint": "sha256:0",
            "metrics": {"auc": 0.8},
            "calibration": {"a": 1.0, "b": 0.0},
            "score_scaling": SCALING.model_dump(),
            "grade_cutoffs": CUTOFFS.model_dump(),
            "risk_levels": {"green": ["S", "A", "B"], "yellow": ["C"], "red": ["D"]},
            "limit_policy": LIMITS.model_dump(),
            "reason_codes": {
                "features": {
                    "late": {"code": "R_LATE", "template": "{value:.0f}", "missing_text": "-"}
                }
            },
            "golden_rows": {"inputs": [[1.0], [None]], "outputs": [0.2, 0.1]},
        }
    )


def test_assess_derives_every_figure_from_the_manifest() -> None:
    manifest = _manifest()
    low_risk = assess(0.001, manifest)
    assert (low_risk.grade, low_risk.risk_level, low_risk.credit_limit) == ("S", "green", 20000)
    high_risk = assess(0.6, manifest)
    assert (high_risk.grade, high_risk.risk_level, high_risk.credit_limit) == ("D", "red", 0)
    assert high_risk.probability_of_default == pytest.approx(0.6)
    assert high_risk.score == score_from_probability(0.6, SCALING)


def test_a_thin_file_is_graded_at_best_the_policys_grade_with_the_models_score() -> None:
    policy = {"probability_of_default": 0.1, "grade": "C", "credit_limit": 1000}
    manifest = _manifest().model_copy(
        update={"thin_file": ThinFilePolicy.model_validate({**policy, "best_grade": "B"})}
    )
    known = assess(0.001, manifest)
    thin = assess(0.001, manifest, thin_file=True)
    assert (thin.score, thin.probability_of_default) == (known.score, known.probability_of_default)
    assert (thin.grade, thin.risk_level, thin.credit_limit) == ("B", "green", 5000)
    assert (thin.thin_file, known.thin_file) == (True, False)
    # A thin file the model grades worse keeps the model's grade.
    worse = assess(0.6, manifest, thin_file=True)
    assert replace(worse, thin_file=False) == assess(0.6, manifest)
    # Without a thin-file policy nothing is capped.
    uncapped = assess(0.001, _manifest(), thin_file=True)
    assert replace(uncapped, thin_file=False) == assess(0.001, _manifest())


@pytest.mark.parametrize("bad", [math.nan, -0.01, 1.01])
def test_assess_refuses_a_broken_model_output(bad: float) -> None:
    with pytest.raises(ValueError, match="model output"):
        assess(bad, _manifest())


def test_pdo_scaling_by_hand() -> None:
    # The default scaling: 600 points at good:bad odds of 50:1, 20 points to double them.
    scaling = ScoreScaling()
    assert (scaling.base_score, scaling.base_odds, scaling.pdo) == (600.0, 50.0, 20.0)
    assert score_from_probability(1 / 51, scaling) == 600  # odds 50:1
    assert score_from_probability(1 / 101, scaling) == 620  # odds doubled
    assert score_from_probability(1 / 26, scaling) == 580  # odds halved
    assert score_from_probability(1 / 11, scaling) == 554  # 600 + 20 log2(10/50) = 553.56
    assert score_from_probability(0.999, scaling) == 300  # clamped
    assert score_from_probability(1e-9, scaling) == 900
