from __future__ import annotations

import pytest

from training.default_bundle import DEFAULT_CONFIG, DEFAULT_CUSTOMERS
from training.sizing import CANDIDATE_CUSTOMERS, CANDIDATE_SETTINGS, Candidate, choose


def candidate(customers: int, setting: str, auc: float, cpu: float = 10.0) -> Candidate:
    return Candidate(
        customers=customers, setting=setting, validation_auc=auc, trees=100, cpu_seconds=cpu
    )


def test_the_best_validation_auc_within_the_budget_is_chosen() -> None:
    candidates = [
        candidate(1_500, "a", 0.80),
        candidate(2_000, "a", 0.85),
        candidate(3_000, "a", 0.90, cpu=99.0),
    ]
    assert choose(candidates, budget_s=40.0) == candidates[1]


def test_ties_to_three_decimals_go_to_the_smaller_population_then_the_first_setting() -> None:
    candidates = [
        candidate(2_500, "a", 0.8504),
        candidate(2_000, "b", 0.8501),
        candidate(2_000, "c", 0.8502),
    ]
    assert choose(candidates) == candidates[1]


def test_no_affordable_candidate_is_an_error() -> None:
    with pytest.raises(ValueError, match="CPU seconds"):
        choose([candidate(2_000, "a", 0.85, cpu=99.0)], budget_s=40.0)


def test_the_default_bundle_uses_a_candidate_size_and_setting() -> None:
    assert DEFAULT_CUSTOMERS in CANDIDATE_CUSTOMERS
    assert DEFAULT_CONFIG in CANDIDATE_SETTINGS.values()
