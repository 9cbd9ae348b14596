"""Model evaluation measures: discrimination, calibration, stability, grade behaviour and how
well the fast reason codes agree with exact TreeSHAP."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    roc_auc_score,
    roc_curve,
)

from riskmodel.quality import threshold_quality
from riskmodel.scaling import decide
from schemas.scores import GRADES, Grade

Floats = npt.NDArray[np.float64]


def ks_statistic(y: npt.ArrayLike, probability: npt.ArrayLike) -> float:
    """Kolmogorov-Smirnov: the largest gap between the bad and good cumulative score
    distributions, ``max(TPR - FPR)`` over thresholds."""
    fpr, tpr, _ = roc_curve(y, probability)
    return float(np.max(tpr - fpr))


def binary_metrics(y: npt.ArrayLike, probability: npt.ArrayLike) -> dict[str, float]:
    """AUC, KS, Gini (2 AUC - 1), PR-AUC (average precision), Brier, bad rate and count."""
    labels = np.asarray(y)
    p = np.asarray(probability, dtype=np.float64)
    auc = float(roc_auc_score(labels, p))
    return {
        "auc": auc,
        "ks": ks_statistic(labels, p),
        "gini": 2.0 * auc - 1.0,
        "pr_auc": float(average_precision_score(labels, p)),
        "brier": float(brier_score_loss(labels, p)),
        "bad_rate": float(labels.mean()),
        "n": float(len(labels)),
    }


def calibration_curve(
    y: npt.ArrayLike, probability: npt.ArrayLike, bins: int = 10
) -> list[dict[str, float]]:
    """Predicted against observed bad rate in ``bins`` equal-count bins of the prediction."""
    labels = np.asarray(y, dtype=np.float64)
    p = np.asarray(probability, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    curve = []
    for chunk in np.array_split(order, bins):
        if len(chunk) == 0:
            continue
        curve.append(
            {
                "predicted": float(p[chunk].mean()),
                "observed": float(labels[chunk].mean()),
                "count": float(len(chunk)),
            }
        )
    return curve


def grade_table(
    y: npt.ArrayLike, grades: Sequence[str], scores: npt.ArrayLike
) -> list[dict[str, Any]]:
    """Per grade S..D: count, share, bad count, bad rate and score range."""
    labels = np.asarray(y)
    grade_array = np.asarray(grades)
    score_array = np.asarray(scores, dtype=np.float64)
    rows = []
    for grade in GRADES:
        mask = grade_array == grade
        count = int(mask.sum())
        rows.append(
            {
                "grade": grade,
                "count": count,
                "share": count / max(len(labels), 1),
                "bad": int(labels[mask].sum()),
                "bad_rate": float(labels[mask].mean()) if count else None,
                "score_min": float(score_array[mask].min()) if count else None,
                "score_max": float(score_array[mask].max()) if count else None,
            }
        )
    return rows


def bad_rate_rises(table: list[dict[str, Any]]) -> bool:
    """Whether the bad rate never falls from S to D (grades with no rows are skipped)."""
    rates = [row["bad_rate"] for row in table if row["bad_rate"] is not None]
    return all(a <= b for a, b in itertools.pairwise(rates))


def top_adverse(contributions: Floats, k: int) -> list[list[int]]:
    """Per row, the indices of the (at most k) largest positive contributions, largest first."""
    result = []
    for row in contributions:
        order = np.argsort(-row, kind="stable")[:k]
        result.append([int(i) for i in order if row[i] > 0])
    return result


def reason_agreement(fast: Floats, exact: Floats, k: int = 3) -> dict[str, float]:
    """How the fast reasons (Saabas table) agree with exact TreeSHAP on adverse features.

    ``top1_match``: rows whose most adverse feature is the same (rows with none on both
    sides count as matching); ``topk_overlap``: mean share of the exact top-k found in the
    fast top-k; ``topk_same_set``: rows whose top-k sets are equal.
    """
    fast_top = top_adverse(fast, k)
    exact_top = top_adverse(exact, k)
    top1 = overlap = same = 0.0
    for f, e in zip(fast_top, exact_top, strict=True):
        top1 += float(f[:1] == e[:1])
        overlap += len(set(f) & set(e)) / len(e) if e else float(not f)
        same += float(set(f) == set(e))
    n = max(len(fast_top), 1)
    return {"top1_match": top1 / n, f"top{k}_overlap": overlap / n, f"top{k}_same_set": same / n}


def decision_quality(y: npt.ArrayLike, grades: Sequence[Grade]) -> list[dict[str, Any]]:
    """Confusion matrix, precision, recall and F1 at the review, prepay and decline
    thresholds (:mod:`riskmodel.quality`) of the decisions the bundle takes: each row as a
    credit order of an active customer, decided on its grade (``riskmodel.scaling.decide``:
    C reviews, D prepays; only a suspended account is declined)."""
    decisions = [
        decide(
            grade=grade,
            account_status="active",
            on_credit=True,
            order_amount=0.0,
            available=math.inf,
        )
        for grade in grades
    ]
    labels = [bool(label) for label in np.asarray(y).tolist()]
    return [q.to_dict() for q in threshold_quality(zip(decisions, labels, strict=True))]
