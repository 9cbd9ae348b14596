"""From the model's probability to what the business acts on: calibrated probability of
default, score, grade, traffic-light level, credit limit and the decision on an order."""

from __future__ import annotations

import math
from dataclasses import dataclass

from riskmodel.manifest import (
    BundleManifest,
    GradeCutoffs,
    LimitPolicy,
    PlattCalibration,
    ScoreScaling,
)
from schemas.actions import AccountStatus
from schemas.scores import GRADES, Decision, Grade, RiskLevel

_EPSILON = 1e-9
_BETTER_GRADE: dict[Grade, Grade] = {"A": "S", "B": "A", "C": "B"}


def calibrate(probability: float, calibration: PlattCalibration) -> float:
    """The calibrated probability of default for the model's raw probability, in (0, 1).

    A NaN input stays NaN, so a broken model output is never mistaken for a score.
    """
    p = min(max(probability, _EPSILON), 1.0 - _EPSILON)
    z = calibration.a * math.log(p / (1.0 - p)) + calibration.b
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def score_from_probability(probability_of_default: float, scaling: ScoreScaling) -> int:
    """``base_score + pdo / ln 2 * ln(odds_good / base_odds)``, rounded and clamped to
    ``[min_score, max_score]``, where ``odds_good = (1 - p) / p``. Higher is safer.

    Raises ValueError for a probability outside [0, 1] or NaN.
    """
    if not 0.0 <= probability_of_default <= 1.0:
        raise ValueError(
            f"probability of default must be within [0, 1], got {probability_of_default}"
        )
    p = min(max(probability_of_default, _EPSILON), 1.0 - _EPSILON)
    odds_good = (1.0 - p) / p
    raw = scaling.base_score + scaling.pdo / math.log(2.0) * math.log(odds_good / scaling.base_odds)
    return int(min(max(round(raw), scaling.min_score), scaling.max_score))


def grade_of(score: int, cutoffs: GradeCutoffs) -> Grade:
    """The best grade whose cut-off the score reaches; D below C's cut-off."""
    for grade, cutoff in cutoffs.as_pairs():
        if score >= cutoff:
            return grade
    return "D"


def credit_limit(score: int, grade: Grade, cutoffs: GradeCutoffs, policy: LimitPolicy) -> float:
    """The model's credit limit for a score of the given grade (see :class:`LimitPolicy`).

    Never negative, never above the S limit, and never lower for a higher score.
    """
    limit = policy.by_grade[grade]
    better = _BETTER_GRADE.get(grade)
    if policy.interpolate_within_grade and better is not None:
        low = getattr(cutoffs, grade)
        high = getattr(cutoffs, better)
        position = min(max((score - low) / (high - low), 0.0), 1.0)
        limit += (policy.by_grade[better] - limit) * position
    return math.floor(limit / policy.rounding + _EPSILON) * policy.rounding


def available_credit(limit: float, credit_outstanding: float | None) -> float:
    """What is left of the limit after credit already drawn (unknown outstanding: none)."""
    return max(limit - (credit_outstanding or 0.0), 0.0)


def decide(
    *,
    grade: Grade,
    account_status: AccountStatus,
    on_credit: bool,
    order_amount: float,
    available: float,
) -> Decision:
    """The decision for an order in hand.

    ====================  ====================================================  ===========
    account / grade       order paid on credit (bnpl, instalment)               paid now
    ====================  ====================================================  ===========
    suspended             decline                                               decline
    frozen                prepay                                                as grade
    grade D               prepay                                                review
    amount > available    prepay (the credit check fails: pay up front)         --
    grade C or limited    review                                                approve
    otherwise             approve                                               approve
    ====================  ====================================================  ===========

    Rows apply top down; a frozen or suspended account is never approved on credit.
    """
    if account_status == "suspended":
        return "decline"
    if not on_credit:
        return "review" if grade == "D" else "approve"
    if account_status == "frozen" or grade == "D" or order_amount > available:
        return "prepay"
    if grade == "C" or account_status == "limited":
        return "review"
    return "approve"


@dataclass(frozen=True, slots=True)
class Assessment:
    """A customer's standing under one bundle, before any order is considered."""

    probability_of_default: float
    score: int
    grade: Grade
    risk_level: RiskLevel
    credit_limit: float
    thin_file: bool = False
    """Judged without behaviour history (onboarding data only), under the thin-file cap."""


def assess(
    model_probability: float, manifest: BundleManifest, thin_file: bool = False
) -> Assessment:
    """Calibrates the model's output and derives score, grade, risk level and limit.

    ``thin_file``: the row has no behaviour history (onboarding data only). Under the
    bundle's thin-file policy its grade is then at best the policy's ``best_grade`` and its
    limit at most that grade's; score and probability stay the model's.

    Raises ValueError when the model output is NaN or outside [0, 1].
    """
    if not 0.0 <= model_probability <= 1.0:
        raise ValueError(f"model output must be within [0, 1], got {model_probability}")
    probability = calibrate(model_probability, manifest.calibration)
    score = score_from_probability(probability, manifest.score_scaling)
    grade = grade_of(score, manifest.grade_cutoffs)
    limit = credit_limit(score, grade, manifest.grade_cutoffs, manifest.limit_policy)
    policy = manifest.thin_file
    if thin_file and policy is not None and GRADES.index(grade) < GRADES.index(policy.best_grade):
        grade = policy.best_grade
        limit = min(limit, manifest.limit_policy.by_grade[grade])
    return Assessment(
        probability_of_default=probability,
        score=score,
        grade=grade,
        risk_level=manifest.risk_level_of(grade),
        credit_limit=limit,
        thin_file=thin_file,
    )
