"""Drift maths: bins, PSI, the rolling window, and agreement with training's PSI."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from riskmodel.drift import (
    SHARE_FLOOR,
    DriftMonitor,
    RollingHistogram,
    bin_of,
    population_stability,
    sample_stability,
    training_distribution,
)
from riskmodel.manifest import TrainingDistribution

THIRDS = TrainingDistribution(name="score", edges=[500.0, 700.0], shares=[0.3, 0.4, 0.3])


@pytest.mark.parametrize(
    ("value", "expected"),
    [(499.9, 0), (500.0, 1), (699.0, 1), (700.0, 2), (900.0, 2), (math.nan, 3)],
)
def test_a_value_falls_in_the_bin_whose_lower_edge_it_reaches(value: float, expected: int) -> None:
    assert bin_of(THIRDS, value) == expected


def test_identical_shares_have_zero_psi() -> None:
    assert population_stability([0.3, 0.4, 0.3, 0.0], [0.3, 0.4, 0.3, 0.0]) == 0.0


def test_psi_matches_the_textbook_formula() -> None:
    expected, actual = [0.5, 0.5], [0.2, 0.8]
    by_hand = (0.2 - 0.5) * math.log(0.2 / 0.5) + (0.8 - 0.5) * math.log(0.8 / 0.5)
    assert population_stability(expected, actual) == pytest.approx(by_hand)


def test_an_empty_bin_is_floored_so_psi_stays_finite() -> None:
    psi = population_stability([0.5, 0.5], [1.0, 0.0])
    assert math.isfinite(psi)
    assert psi == pytest.approx(
        (1.0 - 0.5) * math.log(1.0 / 0.5) + (SHARE_FLOOR - 0.5) * math.log(SHARE_FLOOR / 0.5)
    )


def test_psi_refuses_mismatched_bins() -> None:
    with pytest.raises(ValueError, match="expected bins"):
        population_stability([0.5, 0.5], [1.0])


def test_the_rolling_window_forgets_its_oldest_values() -> None:
    histogram = RollingHistogram(THIRDS, window=4)
    for value in (100.0, 100.0, 600.0, 800.0):
        histogram.add(value)
    assert histogram.shares() == [0.5, 0.25, 0.25, 0.0]
    histogram.add(math.nan)
    histogram.add(800.0)
    assert len(histogram) == 4
    assert histogram.shares() == [0.0, 0.25, 0.5, 0.25]


def test_a_window_matching_training_has_small_psi_and_a_shifted_one_large() -> None:
    rng = np.random.default_rng(7)
    training = rng.normal(600, 60, 20_000)
    baseline = training_distribution("score", training)
    same = RollingHistogram(baseline, window=5_000)
    shifted = RollingHistogram(baseline, window=5_000)
    for value in rng.normal(600, 60, 5_000):
        same.add(float(value))
    for value in rng.normal(680, 60, 5_000):
        shifted.add(float(value))
    assert same.psi() < 0.01
    assert shifted.psi() > 0.25


def test_a_rolling_window_has_the_psi_of_the_same_sample_at_once() -> None:
    rng = np.random.default_rng(11)
    training = rng.exponential(3.0, 4_000)
    training[rng.random(4_000) < 0.1] = math.nan
    live = rng.exponential(4.0, 1_000)
    live[rng.random(1_000) < 0.3] = math.nan
    histogram = RollingHistogram(training_distribution("x", training), window=1_000)
    for value in live:
        histogram.add(float(value))
    assert histogram.psi() == pytest.approx(sample_stability(training, live), rel=1e-9)


def test_training_distribution_shares_sum_to_one_with_the_missing_share() -> None:
    distribution = training_distribution("x", [1.0, 2.0, 3.0, 4.0, math.nan])
    assert distribution.missing_share == pytest.approx(0.2)
    assert sum(distribution.shares) + distribution.missing_share == pytest.approx(1.0)
    assert distribution.edges == sorted(distribution.edges)


def test_training_distribution_of_a_constant_has_one_bin() -> None:
    distribution = training_distribution("x", [5.0] * 10)
    assert distribution.edges == []
    assert distribution.shares == [1.0]


@pytest.mark.parametrize(
    ("edges", "shares", "message"),
    [
        ([2.0, 1.0], [0.3, 0.4, 0.3], "rise strictly"),
        ([1.0], [0.3, 0.4, 0.3], "one share per bin"),
        ([1.0], [0.5, 0.6], "sum to 1"),
        ([1.0], [-0.1, 1.1], "non-negative"),
    ],
)
def test_malformed_distributions_are_refused(
    edges: list[float], shares: list[float], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        TrainingDistribution(name="x", edges=edges, shares=shares)


def test_the_monitor_reports_only_once_it_has_enough_rows() -> None:
    feature = TrainingDistribution(name="b", edges=[0.5], shares=[0.5, 0.5])
    monitor = DriftMonitor([THIRDS, feature], ["a", "b"], window=10, min_rows=3)
    monitor.observe(600.0, [9.0, 0.0])
    monitor.observe(600.0, [9.0, 1.0])
    assert monitor.psi() == {}
    monitor.observe(600.0, [9.0, 1.0])
    psi = monitor.psi()
    assert set(psi) == {"score", "b"}
    assert psi["score"] == pytest.approx(population_stability([0.3, 0.4, 0.3, 0.0], [0, 1, 0, 0]))
    assert psi["b"] == pytest.approx(population_stability([0.5, 0.5, 0.0], [1 / 3, 2 / 3, 0.0]))


def test_the_monitor_refuses_a_minimum_above_its_window() -> None:
    with pytest.raises(ValueError, match="min_rows"):
        DriftMonitor([THIRDS], ["a"], window=10, min_rows=11)


def test_identical_samples_are_stable_and_a_shift_is_not() -> None:
    rng = np.random.default_rng(0)
    sample = rng.normal(size=5000)
    assert sample_stability(sample, sample) == pytest.approx(0.0)
    assert sample_stability(sample, sample + 1.0) > 0.25


def test_sample_stability_counts_missing_values_as_their_own_bin() -> None:
    values = np.arange(100, dtype=float)
    with_gaps = values.copy()
    with_gaps[:50] = np.nan
    assert sample_stability(values, with_gaps) > 1.0
