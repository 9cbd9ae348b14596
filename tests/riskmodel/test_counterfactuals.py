"""Levers change exactly the features their behaviour would, and the search finds the least
changes that reach each goal, judging every candidate row once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskmodel.counterfactuals import (
    LEVERS_BY_NAME,
    applicable,
    apply_steps,
    changed_features,
    least_changes,
    least_changes_of,
)

Row = Mapping[str, float | None]


def payer(**values: float | None) -> dict[str, float | None]:
    row: dict[str, float | None] = {
        "repayments_on_time_ratio_90d": 0.5,
        "repayments_late_90d": 2.0,
        "days_past_due_max_90d": 12.0,
        "days_past_due_mean_90d": 6.0,
        "payments_failed_24h": 0.0,
        "payments_failed_7d": 1.0,
        "payments_failed_30d": 2.0,
        "payments_failed_ratio_30d": 0.25,
        "chargebacks_90d": 0.0,
        "credit_outstanding": 300.0,
        "refunds_without_return_30d": 0.0,
        "refunds_rejected_90d": 0.0,
        "orders_cancelled_ratio_30d": None,
        "reviews_abusive_90d": 0.0,
        "spend_spike_ratio_24h": 0.5,
    }
    row.update(values)
    return row


def test_more_repayments_on_time_follow_the_feature_definitions() -> None:
    # 2 late of 4 repaid; 2 failed of 8 attempts in 30 days.
    changed = apply_steps(payer(), [("on_time_repayments", 2)])

    assert changed["repayments_on_time_ratio_90d"] == pytest.approx(4 / 6)
    assert changed["days_past_due_mean_90d"] == pytest.approx(6.0 * 4 / 6)
    assert changed["payments_failed_ratio_30d"] == pytest.approx(2 / 10)
    assert (changed["repayments_late_90d"], changed["days_past_due_max_90d"]) == (2.0, 12.0)
    first = apply_steps(payer(repayments_on_time_ratio_90d=None), [("on_time_repayments", 1)])
    assert first["repayments_on_time_ratio_90d"] == 1.0


def test_only_levers_that_change_something_apply() -> None:
    names = {lever.name for lever in applicable(payer())}

    assert names == {
        "on_time_repayments",
        "no_failed_payments_30d",
        "no_late_repayments_90d",
        "repay_outstanding",
    }
    changes = changed_features(payer(), apply_steps(payer(), [("no_failed_payments_30d", 1)]))
    assert changes == [
        ("payments_failed_7d", 1.0, 0.0),
        ("payments_failed_30d", 2.0, 0.0),
        ("payments_failed_ratio_30d", 0.25, 0.0),
    ]
    assert LEVERS_BY_NAME["no_cancellations_30d"].applies(payer()) is False


def test_the_least_changes_reaching_each_goal_are_found_and_each_row_judged_once() -> None:
    judged: list[Row] = []

    def judge(rows: Sequence[Row]) -> list[float]:
        judged.extend(rows)
        # A toy score: late repayments weigh most, then failures, then the on-time ratio.
        return [
            500
            - 30 * (row["repayments_late_90d"] or 0)
            - 20 * (row["payments_failed_30d"] or 0)
            + 60 * (row["repayments_on_time_ratio_90d"] or 0)
            for row in rows
        ]

    # Alone: no late repayments 520, no failed payments 470, 8 more on time 450.
    near, far, unreachable = least_changes(payer(), judge, [460.0, 550.0, 600.0])

    assert near is not None
    assert far is not None
    assert near.steps == (("no_late_repayments_90d", 1),)
    assert set(far.steps) == {("no_late_repayments_90d", 1), ("no_failed_payments_30d", 1)}
    assert far.rating == 560
    assert unreachable is None
    keys = [tuple(sorted((k, v) for k, v in row.items())) for row in judged]
    assert len(keys) == len(set(keys))


def test_an_amount_is_cut_to_the_least_that_still_reaches_the_goal() -> None:
    def judge(rows: Sequence[Row]) -> list[float]:
        # Credits only a lower failure ratio among payments that keep failing.
        return [
            100 * (1 - (row["payments_failed_ratio_30d"] or 0)) if row["payments_failed_30d"] else 0
            for row in rows
        ]

    (found,) = least_changes(payer(), judge, [80.0])  # 2 failed of 8 + k: k = 2 gives 20 %

    assert found is not None
    assert found.steps == (("on_time_repayments", 2),)


def _toy_score(rows: Sequence[Row]) -> list[float]:
    return [
        500
        - 30 * (row["repayments_late_90d"] or 0)
        - 20 * (row["payments_failed_30d"] or 0)
        + 60 * (row["repayments_on_time_ratio_90d"] or 0)
        - 0.1 * (row["credit_outstanding"] or 0)
        for row in rows
    ]


payers = st.builds(
    payer,
    repayments_late_90d=st.sampled_from([0.0, 1.0, 3.0]),
    payments_failed_30d=st.sampled_from([0.0, 2.0, 5.0]),
    payments_failed_7d=st.sampled_from([0.0, 1.0]),
    repayments_on_time_ratio_90d=st.sampled_from([None, 0.2, 0.9]),
    credit_outstanding=st.sampled_from([0.0, 300.0, 2000.0]),
)


class CountingJudge:
    """The toy score, counting its calls and the rows it rated."""

    def __init__(self) -> None:
        self.calls = 0
        self.rows = 0

    def __call__(self, rows: Sequence[Row]) -> list[float]:
        self.calls += 1
        self.rows += len(rows)
        return _toy_score(rows)


@given(
    st.lists(
        st.tuples(payers, st.lists(st.sampled_from([380.0, 460.0, 550.0, 700.0]), max_size=3)),
        max_size=6,
    )
)
def test_searches_side_by_side_find_what_each_finds_alone_in_as_many_calls_as_the_longest(
    problems: list[tuple[dict[str, float | None], list[float]]],
) -> None:
    together = CountingJudge()
    found = least_changes_of(problems, together)

    alone = [CountingJudge() for _ in problems]
    assert found == [
        least_changes(row, judge, goals)
        for (row, goals), judge in zip(problems, alone, strict=True)
    ]
    assert together.calls == max((judge.calls for judge in alone), default=0)
    assert together.rows == sum(judge.rows for judge in alone)
