from __future__ import annotations

import numpy as np
import pytest

from training.evaluation import (
    bad_rate_rises,
    binary_metrics,
    calibration_curve,
    decision_quality,
    grade_table,
    ks_statistic,
    reason_agreement,
    top_adverse,
)


def test_perfect_separation_gives_auc_and_ks_of_one() -> None:
    y = np.array([0, 0, 1, 1])
    metrics = binary_metrics(y, np.array([0.1, 0.2, 0.8, 0.9]))
    assert metrics["auc"] == 1.0
    assert metrics["ks"] == 1.0
    assert metrics["gini"] == 1.0
    assert metrics["bad_rate"] == 0.5


def test_ks_is_the_largest_gap_between_the_cumulative_distributions() -> None:
    y = np.array([0, 1, 0, 1])
    assert ks_statistic(y, np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx(0.5)


def test_calibration_curve_bins_hold_equal_counts() -> None:
    y = np.array([0, 0, 0, 1] * 25)
    curve = calibration_curve(y, np.linspace(0, 1, 100), bins=4)
    assert [point["count"] for point in curve] == [25.0] * 4
    assert curve[0]["predicted"] < curve[-1]["predicted"]


def test_grade_table_and_monotone_bad_rate() -> None:
    table = grade_table(
        np.array([0, 0, 1, 0, 1, 1]), ["S", "A", "A", "B", "D", "D"], np.array([8, 7, 7, 6, 3, 2])
    )
    assert [row["bad_rate"] for row in table] == [0.0, 0.5, 0.0, None, 1.0]
    assert not bad_rate_rises(table)
    assert bad_rate_rises([{"bad_rate": 0.01}, {"bad_rate": None}, {"bad_rate": 0.3}])


def test_top_adverse_keeps_positive_contributions_only() -> None:
    assert top_adverse(np.array([[0.1, -0.5, 0.3, 0.2]]), k=3) == [[2, 3, 0]]
    assert top_adverse(np.array([[-0.1, -0.2]]), k=3) == [[]]


def test_reason_agreement_compares_top_sets() -> None:
    fast = np.array([[0.3, 0.2, 0.1, 0.0], [0.1, 0.0, 0.0, 0.5]])
    exact = np.array([[0.3, 0.1, 0.2, 0.0], [0.6, 0.0, 0.0, 0.5]])
    agreement = reason_agreement(fast, exact, k=2)
    assert agreement["top1_match"] == 0.5
    assert agreement["top2_overlap"] == pytest.approx(0.75)
    assert agreement["top2_same_set"] == 0.5


def test_decision_quality_follows_the_bundles_decisions_on_grades() -> None:
    review, prepay, decline = decision_quality([1, 0, 1, 0], ["D", "C", "C", "A"])

    assert (review["true_positive"], review["false_positive"], review["true_negative"]) == (2, 1, 1)
    assert (prepay["true_positive"], prepay["false_negative"]) == (1, 1)
    assert decline["flagged"] == 0  # only a suspended account is declined
