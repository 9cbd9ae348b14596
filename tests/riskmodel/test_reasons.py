from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskmodel.errors import BundleError
from riskmodel.manifest import ReasonCodeSpec, ReasonText
from riskmodel.reasons import (
    ReasonTable,
    explain,
    reasons_from_contributions,
    reasons_of_rows,
)
from schemas.scores import ReasonCode

NAMES = ["repayments_late_90d", "refund_rate_30d"]
SPEC = ReasonCodeSpec(
    features={
        "repayments_late_90d": ReasonText(
            code="R_LATE_REPAYMENTS",
            template="{value:.0f} late repayments in the last 90 days",
            missing_text="no repayment record",
        ),
        "refund_rate_30d": ReasonText(
            code="R_REFUND_RATE",
            template="refunds on {value:.0%} of orders in the last 30 days",
            missing_text="no orders in the last 30 days",
        ),
    }
)


def _arrays() -> dict[str, np.ndarray]:
    """Two trees. Tree 1: split on feature 0 at 1.0 (NaN left; root value 0.0) into a leaf
    (-0.5) and a split on feature 1 at 0.0 (NaN right; value 0.5) into leaves 0.2 and 0.8.
    Tree 2: a single leaf, 0.1."""
    inf = math.inf
    return {
        "feature": np.array([0, 0, 1, 0, 0, 0]),
        "threshold": np.array([1.0, inf, 0.0, inf, inf, inf]),
        "nan_left": np.array([True, False, False, False, False, False]),
        "left": np.array([1, 1, 3, 3, 4, 5]),
        "right": np.array([2, 1, 4, 3, 4, 5]),
        "leaf_slot": np.array([-1, 0, -1, 1, 2, 3]),
        "roots": np.array([0, 5]),
        "contributions": np.array([[-0.5, 0.0], [0.5, -0.3], [0.5, 0.3], [0.0, 0.0]]),
        "leaf_value": np.array([-0.5, 0.2, 0.8, 0.1]),
        "expected_value": np.array([0.1]),
    }


@pytest.fixture
def table() -> ReasonTable:
    return ReasonTable.from_arrays(_arrays())


def test_walk_reaches_the_expected_leaves_with_missing_values(table: ReasonTable) -> None:
    rows = np.array([[0.5, 9.0], [2.0, -1.0], [2.0, 1.0], [math.nan, 5.0], [2.0, math.nan]])
    assert table.depth == 2
    assert table.leaves(rows).tolist() == [[1, 5], [3, 5], [4, 5], [1, 5], [4, 5]]
    assert table.raw_scores(rows).tolist() == pytest.approx([-0.4, 0.3, 0.9, -0.4, 0.9])


def test_contributions_add_up_to_the_log_odds(table: ReasonTable) -> None:
    rows = np.array([[0.5, 9.0], [2.0, -1.0], [2.0, 1.0]])
    contributions = table.contributions_of(rows)
    np.testing.assert_allclose(contributions, [[-0.5, 0.0], [0.5, -0.3], [0.5, 0.3]])
    assert (contributions.sum(axis=1) + table.expected_value).tolist() == pytest.approx(
        table.raw_scores(rows).tolist()
    )
    for row, expected in zip(rows, contributions, strict=True):
        assert table.contributions_of_row(row).tolist() == pytest.approx(expected.tolist())
        np.testing.assert_allclose(table.contributions_of(row[np.newaxis, :]), [expected])


def test_reasons_are_adverse_only_most_adverse_first_with_text(table: ReasonTable) -> None:
    reasons = explain([3.0, 0.25], table, NAMES, SPEC)
    assert [r.code for r in reasons] == ["R_LATE_REPAYMENTS", "R_REFUND_RATE"]
    assert [r.impact for r in reasons] == pytest.approx([0.5, 0.3])
    assert reasons[0].text == "3 late repayments in the last 90 days"
    assert reasons[1].text == "refunds on 25% of orders in the last 30 days"
    assert reasons[1].value == 0.25
    assert explain([0.5, 9.0], table, NAMES, SPEC) == []


def test_reasons_order_by_impact_not_by_feature_and_respect_the_limit() -> None:
    reasons = reasons_from_contributions([1.0, 0.5], [0.1, 0.7], NAMES, SPEC)
    assert [r.feature for r in reasons] == ["refund_rate_30d", "repayments_late_90d"]
    assert len(reasons_from_contributions([1.0, 0.5], [0.1, 0.7], NAMES, SPEC, limit=1)) == 1


def test_an_undefined_value_reads_with_the_missing_text() -> None:
    (reason,) = reasons_from_contributions([0.0, math.nan], [-0.2, 0.4], NAMES, SPEC)
    assert reason.value is None
    assert reason.text == "no orders in the last 30 days"


def _reasons_of_one_row(
    values: list[float], contributions: list[float], limit: int
) -> list[ReasonCode]:
    """The reasons of one row, ranked and built element by element: the reference the
    batch ranking must reproduce."""
    impacts = np.asarray(contributions, dtype=np.float64)
    adverse = [int(i) for i in np.argsort(-impacts, kind="stable")[:limit] if impacts[i] > 0]
    reasons = []
    for i in adverse:
        name = NAMES[i]
        value = float(values[i])
        defined = not math.isnan(value)
        text = SPEC.features[name]
        reasons.append(
            ReasonCode(
                code=text.code,
                feature=name,
                value=value if defined else None,
                impact=round(float(impacts[i]), 6),
                text=text.template.format(value=value) if defined else text.missing_text,
            )
        )
    return reasons


# Few distinct values, so ties, zeros, signed zeros and undefined values all come up.
_VALUES = st.sampled_from([math.nan, 0.0, 0.25, 3.0, 1e-7])
_IMPACTS = st.sampled_from([0.0, -0.0, 0.3, 0.3000004, -0.2, 1e-9, 0.7, math.nan])


@given(
    st.lists(st.tuples(st.tuples(_VALUES, _VALUES), st.tuples(_IMPACTS, _IMPACTS)), max_size=9),
    st.integers(min_value=0, max_value=3),
)
def test_reasons_of_a_batch_equal_those_of_each_row_alone(
    rows: list[tuple[tuple[float, float], tuple[float, float]]], limit: int
) -> None:
    values = np.array([row for row, _ in rows], dtype=np.float64).reshape(-1, 2)
    contributions = np.array([impacts for _, impacts in rows], dtype=np.float64).reshape(-1, 2)
    batch = reasons_of_rows(values, contributions, NAMES, SPEC, limit)
    assert batch == [_reasons_of_one_row(list(row), list(impacts), limit) for row, impacts in rows]
    assert [
        reasons_from_contributions(row, impacts, NAMES, SPEC, limit) for row, impacts in rows
    ] == batch


def test_save_and_load_round_trip(table: ReasonTable, tmp_path: Path) -> None:
    table.save(tmp_path / "reasons.npz")
    loaded = ReasonTable.load(tmp_path / "reasons.npz")
    rows = np.array([[2.0, 1.0], [math.nan, math.nan]])
    assert loaded.raw_scores(rows).tolist() == table.raw_scores(rows).tolist()
    assert loaded.expected_value == table.expected_value


def test_a_table_missing_an_array_is_refused() -> None:
    arrays = _arrays()
    del arrays["leaf_value"]
    with pytest.raises(BundleError, match="leaf_value"):
        ReasonTable.from_arrays(arrays)


def test_a_child_outside_the_nodes_is_refused() -> None:
    arrays = _arrays()
    arrays["right"][0] = 17
    with pytest.raises(BundleError, match="child"):
        ReasonTable.from_arrays(arrays)


def test_a_leaf_that_is_not_its_own_child_is_refused() -> None:
    arrays = _arrays()
    arrays["left"][1] = 2
    with pytest.raises(BundleError, match="own children"):
        ReasonTable.from_arrays(arrays)


def test_a_cycle_of_splits_is_refused() -> None:
    arrays = _arrays()
    arrays["left"][2] = 0
    with pytest.raises(BundleError, match="do not end"):
        ReasonTable.from_arrays(arrays)


def test_an_unreadable_file_is_a_bundle_error(tmp_path: Path) -> None:
    (tmp_path / "reasons.npz").write_bytes(b"not a zip")
    with pytest.raises(BundleError, match="cannot read"):
        ReasonTable.load(tmp_path / "reasons.npz")
