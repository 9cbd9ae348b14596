from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from riskmodel.reasons import MAX_PATTERN_SPLITS, PATTERN_CHUNK, PATTERN_TABLE
from training.errors import TrainingError
from training.reason_table import build_reason_table


def _data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2000, 5)).astype(np.float32).astype(np.float64)
    x[rng.random(x.shape) < 0.15] = np.nan
    x[:, 4] = np.nan_to_num(x[:, 4])  # trained without gaps: NaN will be read as zero
    y = (np.nan_to_num(x[:, 0]) + x[:, 4] + rng.normal(size=2000) > 0.3).astype(int)
    return x, y


@pytest.mark.parametrize(
    ("num_leaves", "tabled"),
    # Trees of few splits are read from per-pattern tables, larger ones leaf by leaf.
    [(15, False), (MAX_PATTERN_SPLITS + 1, True)],
)
def test_table_reproduces_lightgbm_log_odds_and_treeshap_totals(
    num_leaves: int, tabled: bool
) -> None:
    x, y = _data(0)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": num_leaves, "max_depth": 4},
        lgb.Dataset(x, y),
        num_boost_round=60,
    )
    table = build_reason_table(booster)
    probe = x.copy()
    probe[:100, 4] = np.nan
    raw = booster.predict(probe, raw_score=True)
    np.testing.assert_allclose(table.raw_scores(probe), raw, atol=1e-9)
    contributions = table.contributions_of(probe)
    np.testing.assert_allclose(contributions.sum(axis=1) + table.expected_value, raw, atol=1e-9)
    shap = booster.predict(probe, pred_contrib=True)
    np.testing.assert_allclose(shap.sum(axis=1), raw, atol=1e-9)
    # The table's contributions are exact TreeSHAP, row by row and in a batch.
    assert table.exact
    assert table.shap is not None
    assert (PATTERN_TABLE in table.shap) == tabled
    np.testing.assert_allclose(contributions, shap[:, :-1], atol=1e-9)
    assert table.expected_value == pytest.approx(shap[0, -1])
    for row in probe[:20]:
        np.testing.assert_allclose(
            table.contributions_of_row(row),
            booster.predict(row[None, :], pred_contrib=True)[0, :-1],
            atol=1e-9,
        )
    assert table.depth <= 4
    # A batch, read in chunks, gives every row exactly what the row gives alone.
    alone = np.stack([table.contributions_of_row(row) for row in probe[: 3 * PATTERN_CHUNK + 5]])
    np.testing.assert_array_equal(table.contributions_of(probe[: len(alone)]), alone)


def test_zero_as_missing_splits_are_refused() -> None:
    x, y = _data(1)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "zero_as_missing": True},
        lgb.Dataset(x, y),
        num_boost_round=5,
    )
    with pytest.raises(TrainingError, match="not supported"):
        build_reason_table(booster)
