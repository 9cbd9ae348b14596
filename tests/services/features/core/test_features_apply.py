"""apply_event: idempotency, the horizon, and how each kind of event updates the features,
against hand-computed values. The anchor ``T`` is 2026-03-10 12:00 UTC."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.features.core import (
    ApplyOutcome,
    CustomerMismatchError,
    CustomerState,
    apply_event,
    compute_features,
)
from services.features.core.state import MAX_REMEMBERED_EVENT_IDS

BuildState = Callable[..., CustomerState]


def credit_story(events):
    """A customer's 10 days: two credit orders (one cancelled), a card order, repayments,
    a failed repayment, refunds and a chargeback."""
    return [
        events.order(events.at(days=-10), "o1", method="bnpl", amount="300"),
        events.payment(events.at(days=-9), "o1", kind="repayment", amount="100", days_past_due=0),
        events.payment(events.at(days=-8), "o1", kind="repayment", amount="50", days_past_due=3),
        events.payment(events.at(days=-7), "o1", kind="repayment", amount="50", status="failed"),
        events.refund(events.at(days=-5), "o1", "r1", amount="60"),
        events.payment(events.at(days=-4), "o1", kind="chargeback", amount="40"),
        events.order(events.at(days=-3), "o2", method="instalment", amount="200"),
        events.order(
            events.at(days=-2), "o2", method="instalment", amount="200", status="cancelled"
        ),
        events.order(events.at(days=-1), "o3", method="card", amount="500"),
        events.refund(events.at(hours=-12), "o3", "r2", amount="100", goods_returned=False),
    ]


def test_credit_story_features(events, build_state: BuildState):
    features = compute_features(build_state(*credit_story(events)), events.anchor)

    assert features["orders_count_30d"] == 3.0
    assert features["orders_amount_30d"] == 1000.0
    assert features["orders_cancelled_ratio_30d"] == pytest.approx(1 / 3)
    assert features["orders_credit_share_30d"] == pytest.approx(2 / 3)
    assert features["order_amount_avg_90d"] == pytest.approx(1000 / 3)
    assert features["order_amount_max_90d"] == 500.0
    assert features["payments_failed_24h"] == 0.0
    assert features["payments_failed_7d"] == 0.0  # D-7 is outside the 7-day window
    assert features["payments_failed_30d"] == 1.0
    assert features["payments_failed_ratio_30d"] == pytest.approx(1 / 3)
    assert features["chargebacks_90d"] == 1.0
    assert features["repayments_on_time_ratio_90d"] == 0.5
    assert features["repayments_late_90d"] == 1.0
    assert features["days_past_due_max_90d"] == 3.0
    assert features["days_past_due_mean_90d"] == 1.5
    # 300 - 100 - 50 (repaid) - 60 (refunded) + 40 (charged back) + 200 - 200 (cancelled)
    assert features["credit_outstanding"] == 130.0
    assert features["refunds_count_7d"] == 2.0
    assert features["refunds_amount_30d"] == 160.0
    assert features["refund_rate_30d"] == pytest.approx(2 / 3)
    assert features["refunds_without_return_30d"] == 1.0
    assert features["refunds_rejected_90d"] == 0.0


def test_arrival_order_does_not_change_the_features(events, build_state: BuildState):
    story = credit_story(events)
    in_order = compute_features(build_state(*story), events.anchor)

    reversed_state = CustomerState.new("c1")
    outcomes = {apply_event(reversed_state, e, events.anchor) for e in reversed(story)}

    assert outcomes == {ApplyOutcome.APPLIED}
    assert compute_features(reversed_state, events.anchor) == in_order


def test_a_repeated_event_id_changes_nothing(events, build_state: BuildState):
    payment = events.payment(events.at(), "o1", status="failed")
    state = build_state(payment)
    before = state.to_bytes()

    assert apply_event(state, payment, events.at(minutes=5)) is ApplyOutcome.DUPLICATE
    assert state.to_bytes() == before


def test_an_order_counts_once_at_its_placed_event(events, build_state: BuildState):
    state = build_state(events.order(events.at(hours=-2), "o1", amount="80"))

    again = apply_event(state, events.order(events.at(hours=-1), "o1"), events.anchor)
    completed = apply_event(
        state, events.order(events.at(), "o1", status="completed"), events.anchor
    )
    completed_again = apply_event(
        state, events.order(events.at(), "o1", status="completed"), events.anchor
    )
    features = compute_features(state, events.anchor)

    assert (again, completed, completed_again) == (
        ApplyOutcome.DUPLICATE,
        ApplyOutcome.APPLIED,
        ApplyOutcome.DUPLICATE,
    )
    assert features["orders_count_24h"] == 1.0
    assert features["orders_amount_24h"] == 80.0
    assert features["orders_cancelled_ratio_30d"] == 0.0


def test_a_cancellation_arriving_before_its_order_waits_for_it(events):
    state = CustomerState.new("c1")
    cancel = events.order(events.at(hours=-1), "o1", status="cancelled", method="bnpl")
    placed = events.order(events.at(hours=-2), "o1", method="bnpl", amount="100")

    apply_event(state, cancel, events.anchor)
    before_placement = compute_features(state, events.anchor)
    apply_event(state, placed, events.anchor)
    after_placement = compute_features(state, events.anchor)

    assert before_placement["orders_count_24h"] == 0.0
    assert before_placement["credit_outstanding"] == 0.0
    assert after_placement["orders_count_24h"] == 1.0
    assert after_placement["orders_cancelled_ratio_30d"] == 1.0
    assert after_placement["credit_outstanding"] == 0.0
    assert after_placement["days_since_first_event"] == pytest.approx(2 / 24)


def test_cancelling_an_old_order_releases_credit_but_stays_out_of_the_30d_ratio(
    events, build_state: BuildState
):
    state = build_state(
        events.order(events.at(days=-40), "o1", method="bnpl", amount="100"),
        events.order(events.at(days=-1), "o1", method="bnpl", status="cancelled"),
    )

    features = compute_features(state, events.anchor)

    assert features["orders_count_90d"] == 1.0
    assert features["orders_cancelled_ratio_30d"] is None
    assert features["credit_outstanding"] == 0.0


def test_a_refund_counts_once_when_approved(events, build_state: BuildState):
    state = build_state(
        events.order(events.at(days=-3), "o1", amount="100"),
        events.refund(events.at(days=-2), "o1", "r1", status="requested", amount="40"),
    )
    requested = compute_features(state, events.anchor)

    approved = apply_event(
        state, events.refund(events.at(days=-1), "o1", "r1", amount="40"), events.anchor
    )
    approved_again = apply_event(
        state, events.refund(events.at(hours=-1), "o1", "r1", amount="40"), events.anchor
    )
    rejected = apply_event(
        state, events.refund(events.at(), "o1", "r2", status="rejected"), events.anchor
    )
    features = compute_features(state, events.anchor)

    assert requested["refunds_count_7d"] == 0.0
    assert (approved, approved_again, rejected) == (
        ApplyOutcome.APPLIED,
        ApplyOutcome.DUPLICATE,
        ApplyOutcome.APPLIED,
    )
    assert features["refunds_count_7d"] == 1.0
    assert features["refunds_amount_30d"] == 40.0
    assert features["refund_rate_30d"] == 1.0
    assert features["refunds_without_return_30d"] == 0.0
    assert features["refunds_rejected_90d"] == 1.0


def test_an_approved_refund_without_return_is_counted_as_such(events, build_state):
    state = build_state(
        events.order(events.at(days=-3), "o1"),
        events.order(events.at(days=-3), "o2"),
        events.refund(events.at(days=-1), "o1", "r1", goods_returned=False),
        events.refund(events.at(days=-1), "o2", "r2", goods_returned=True),
    )

    features = compute_features(state, events.anchor)

    assert features["refunds_count_30d"] == 2.0
    assert features["refunds_without_return_30d"] == 1.0
    assert features["refund_rate_30d"] == 1.0


@pytest.mark.parametrize(("method", "outstanding"), [("bnpl", 150.0), ("card", 0.0)])
def test_a_refund_before_its_order_adjusts_credit_once_the_method_is_known(
    events, method, outstanding
):
    state = CustomerState.new("c1")
    apply_event(state, events.refund(events.at(hours=-2), "o9", "r1", amount="50"), events.anchor)
    apply_event(
        state, events.order(events.at(hours=-3), "o9", method=method, amount="200"), events.anchor
    )

    features = compute_features(state, events.anchor)

    assert features["credit_outstanding"] == outstanding
    assert features["refunds_count_7d"] == 1.0


def test_chargebacks_count_whatever_their_status_and_reopen_credit_when_they_succeed(
    events, build_state: BuildState
):
    state = build_state(
        events.payment(events.at(hours=-5), "o8", kind="chargeback", amount="40"),
        events.payment(events.at(hours=-4), "o8", kind="chargeback", status="failed"),
        events.payment(events.at(hours=-3), "o7", kind="chargeback", amount="30"),
        events.order(events.at(hours=-2), "o8", method="bnpl", amount="100"),
        events.order(events.at(hours=-1), "o7", method="wallet", amount="30"),
    )

    features = compute_features(state, events.anchor)

    assert features["chargebacks_90d"] == 3.0
    assert features["credit_outstanding"] == 140.0
    assert features["payments_failed_24h"] == 0.0


def test_credit_outstanding_is_floored_at_zero_on_the_running_total(events, build_state):
    state = build_state(
        events.order(events.at(days=-3), "o1", method="bnpl", amount="100"),
        events.payment(events.at(days=-2), "o1", kind="repayment", amount="150"),
    )
    overpaid = compute_features(state, events.anchor)["credit_outstanding"]

    apply_event(state, events.order(events.at(), "o2", method="bnpl", amount="100"), events.anchor)

    assert overpaid == 0.0
    assert compute_features(state, events.anchor)["credit_outstanding"] == 50.0


def test_a_repayment_without_days_past_due_is_on_time(events, build_state: BuildState):
    state = build_state(events.payment(events.at(), "o1", kind="repayment", amount="10"))

    features = compute_features(state, events.anchor)

    assert features["repayments_on_time_ratio_90d"] == 1.0
    assert features["days_past_due_max_90d"] == 0.0
    assert features["payments_failed_ratio_30d"] == 0.0


def test_reviews(events, build_state: BuildState):
    state = build_state(
        events.review(events.at(days=-95), "o0", rating=1),  # outside the window at T
        events.review(events.at(days=-80), "o1", rating=5),
        events.review(events.at(days=-20), "o2", rating=2),
        events.review(events.at(days=-2), "o3", rating=1, abusive=True),
        events.review(events.at(), "o4", rating=4),
    )

    features = compute_features(state, events.anchor)

    assert features["reviews_count_90d"] == 4.0
    assert features["review_rating_mean_90d"] == 3.0
    assert features["reviews_negative_ratio_90d"] == 0.5
    assert features["reviews_abusive_90d"] == 1.0


def test_distinct_shipping_addresses_over_30_days(events, build_state: BuildState):
    state = build_state(
        events.order(events.at(days=-31), "o0", address="addr-c"),
        events.order(events.at(days=-3), "o1", address="addr-a"),
        events.order(events.at(days=-2), "o2", address="addr-b"),
        events.order(events.at(days=-1), "o3", address="addr-a"),
        events.order(events.at(hours=-1), "o4"),
    )

    assert compute_features(state, events.anchor)["shipping_addresses_distinct_30d"] == 2.0
    assert compute_features(state, events.at(days=28))["shipping_addresses_distinct_30d"] == 1.0


def test_events_older_than_90_days_before_the_clock_are_too_old(events, build_state):
    state = build_state(events.order(events.at(), "o1"))
    before = state.to_bytes()

    too_old = apply_event(state, events.review(events.at(days=-91), "o1"), events.anchor)
    # The clock never goes back, even when an earlier processing time is passed.
    too_old_for_the_clock = apply_event(
        state, events.review(events.at(days=-91), "o1"), events.at(days=-10)
    )
    after_rejections = state.to_bytes()
    recent_enough = apply_event(state, events.review(events.at(days=-89), "o1"), events.anchor)

    assert (too_old, too_old_for_the_clock, recent_enough) == (
        ApplyOutcome.TOO_OLD,
        ApplyOutcome.TOO_OLD,
        ApplyOutcome.APPLIED,
    )
    assert after_rejections == before
    assert compute_features(state, events.anchor)["reviews_count_90d"] == 1.0


def test_another_customers_event_is_refused(events):
    with pytest.raises(CustomerMismatchError, match="c2"):
        apply_event(
            CustomerState.new("c1"),
            events.order(events.at(), "o1", customer_id="c2"),
            events.anchor,
        )


def test_only_the_most_recent_event_ids_are_remembered(events):
    state = CustomerState.new("c1")
    reviews = [
        events.review(events.at(seconds=i), "o1") for i in range(MAX_REMEMBERED_EVENT_IDS + 1)
    ]
    for review in reviews:
        apply_event(state, review, review.occurred_at)

    assert apply_event(state, reviews[-1], events.at(hours=1)) is ApplyOutcome.DUPLICATE
    assert apply_event(state, reviews[1], events.at(hours=1)) is ApplyOutcome.DUPLICATE
    assert apply_event(state, reviews[0], events.at(hours=1)) is ApplyOutcome.APPLIED
