"""compute_features: window definitions, time decay and null rules, against hand-computed
values. The anchor ``T`` is 2026-03-10 12:00 UTC, on UTC day ``D``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from schemas.features import FEATURE_SCHEMA
from services.features.core import AsOfOutOfRangeError, CustomerState, compute_features

BuildState = Callable[..., CustomerState]

NULLABLE = {
    "orders_cancelled_ratio_30d",
    "orders_credit_share_30d",
    "order_amount_avg_90d",
    "order_amount_max_90d",
    "spend_spike_ratio_24h",
    "days_since_first_event",
    "days_since_last_order",
    "payments_failed_ratio_30d",
    "repayments_on_time_ratio_90d",
    "days_past_due_max_90d",
    "days_past_due_mean_90d",
    "refund_rate_30d",
    "review_rating_mean_90d",
    "reviews_negative_ratio_90d",
    "days_since_registration",
    "bureau_score_normalised",
    "bureau_delinquencies",
    "bureau_inquiries_6m",
    "days_since_bureau_report",
}


def test_a_new_customer_has_zero_counts_and_undefined_ratios(events):
    features = compute_features(CustomerState.new("c1"), events.anchor)

    assert list(features) == list(FEATURE_SCHEMA.names)
    assert {name for name, value in features.items() if value is None} == NULLABLE
    assert all(value == 0.0 for name, value in features.items() if name not in NULLABLE)


def test_short_windows_slide_and_exclude_their_start(events, build_state: BuildState):
    state = build_state(
        events.order(events.at(hours=-25), "o1", amount="100"),
        events.order(events.at(hours=-23), "o2", amount="200"),
        events.order(events.at(hours=-1), "o3", amount="300"),
        events.order(events.at(minutes=-30), "o4", amount="400"),
        events.order(events.at(), "o5", amount="500"),
    )

    features = compute_features(state, events.anchor)

    assert features["orders_count_1h"] == 2.0  # o3 sits exactly on the excluded start
    assert features["orders_count_24h"] == 4.0
    assert features["orders_amount_24h"] == 1400.0
    assert features["orders_count_7d"] == 5.0
    assert features["orders_amount_7d"] == 1500.0
    assert features["spend_spike_ratio_24h"] == pytest.approx(1400 / (1500 / 30))
    assert features["days_since_last_order"] == 0.0
    assert features["days_since_first_event"] == pytest.approx(25 / 24)


def test_long_windows_are_whole_utc_days_ending_with_the_day_of_as_of(
    events, build_state: BuildState
):
    # T is noon, so day D-k starts at T - k days - 12 hours.
    state = build_state(
        events.order(events.at(days=-90, hours=11, minutes=59), "d90"),  # D-90 23:59
        events.order(events.at(days=-89, hours=-12), "d89"),  # D-89 00:00
        events.order(events.at(days=-30, hours=11, minutes=59), "d30"),  # D-30 23:59
        events.order(events.at(days=-29, hours=-12), "d29"),  # D-29 00:00
        events.order(events.at(days=-7, hours=11, minutes=59), "d7"),  # D-7 23:59
        events.order(events.at(days=-6, hours=-12), "d6"),  # D-6 00:00
    )

    today = compute_features(state, events.anchor)
    tomorrow = compute_features(state, events.at(days=1))

    assert (today["orders_count_7d"], today["orders_count_30d"], today["orders_count_90d"]) == (
        1.0,
        3.0,
        5.0,
    )
    assert (
        tomorrow["orders_count_7d"],
        tomorrow["orders_count_30d"],
        tomorrow["orders_count_90d"],
    ) == (0.0, 2.0, 4.0)


def test_a_burst_decays_as_as_of_moves_past_it(events, build_state: BuildState):
    state = build_state(
        events.order(events.at(), "o1", amount="50"),
        events.order(events.at(), "o2", amount="50"),
        events.order(events.at(), "o3", amount="50"),
        events.payment(events.at(), "o1", status="failed"),
        events.payment(events.at(), "o2", status="failed"),
    )

    at_burst = compute_features(state, events.anchor)
    next_day = compute_features(state, events.at(days=1))
    forty_days = compute_features(state, events.at(days=40))
    four_months = compute_features(state, events.at(days=120))

    assert at_burst["orders_count_1h"] == 3.0
    assert at_burst["payments_failed_24h"] == 2.0
    assert at_burst["spend_spike_ratio_24h"] == 30.0
    assert next_day["orders_count_1h"] == next_day["orders_count_24h"] == 0.0
    assert next_day["orders_amount_24h"] == 0.0
    assert next_day["payments_failed_24h"] == 0.0
    assert next_day["spend_spike_ratio_24h"] == 0.0
    assert next_day["orders_count_7d"] == 3.0
    assert next_day["payments_failed_7d"] == 2.0
    assert forty_days["orders_count_30d"] == 0.0
    assert forty_days["spend_spike_ratio_24h"] is None
    assert forty_days["payments_failed_ratio_30d"] is None
    assert forty_days["orders_count_90d"] == 3.0
    assert forty_days["order_amount_avg_90d"] == 50.0
    assert forty_days["days_since_last_order"] == 40.0
    assert four_months["orders_count_90d"] == 0.0
    assert four_months["order_amount_avg_90d"] is None
    assert four_months["order_amount_max_90d"] is None
    assert four_months["days_since_first_event"] == 120.0
    assert four_months["days_since_last_order"] == 120.0


def test_events_after_as_of_do_not_count(events, build_state: BuildState):
    state = build_state(
        events.order(events.at(hours=-2), "o1", amount="10", method="bnpl"),
        events.order(events.at(), "o2", amount="20", method="bnpl"),
    )

    features = compute_features(state, events.at(hours=-1))

    assert features["orders_count_24h"] == 1.0
    assert features["orders_amount_7d"] == 10.0
    assert features["credit_outstanding"] == 10.0
    assert features["days_since_last_order"] == pytest.approx(1 / 24)
    assert features["days_since_first_event"] == pytest.approx(1 / 24)


def test_a_customer_whose_only_events_follow_as_of_has_no_history(events, build_state):
    state = build_state(events.review(events.at(), "o1"))

    features = compute_features(state, events.at(hours=-1))

    assert features["days_since_first_event"] is None
    assert features["reviews_count_90d"] == 0.0


def test_as_of_more_than_a_day_before_the_clock_is_refused(events, build_state: BuildState):
    state = build_state(events.order(events.at(), "o1"))

    with pytest.raises(AsOfOutOfRangeError, match="more than 24h before"):
        compute_features(state, events.at(hours=-24, seconds=-1))
    assert compute_features(state, events.at(hours=-24))["orders_count_90d"] == 0.0


def test_ratios_with_empty_denominators_are_none(events, build_state: BuildState):
    state = build_state(
        events.refund(events.at(days=-40), "o1", "r1"),
        events.payment(events.at(days=-1), "o1", kind="chargeback"),
    )

    features = compute_features(state, events.anchor)

    assert features["refunds_count_90d"] == 1.0
    assert features["chargebacks_90d"] == 1.0
    assert features["refund_rate_30d"] is None
    assert features["payments_failed_ratio_30d"] is None  # a chargeback is not an attempt
    assert features["spend_spike_ratio_24h"] is None
    assert features["days_since_last_order"] is None


def test_computing_does_not_change_the_state(events, build_state: BuildState):
    state = build_state(
        events.order(events.at(days=-5), "o1"),
        events.order(events.at(hours=-1), "o2", status="cancelled"),
    )
    before = state.to_bytes()

    compute_features(state, events.at(days=30))

    assert state.to_bytes() == before
