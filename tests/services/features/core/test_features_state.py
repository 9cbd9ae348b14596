"""CustomerState: serialisation, folding of recent entries into day buckets, and bounds."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest

from services.features.core import (
    CustomerState,
    StateFormatError,
    apply_event,
    compute_features,
    from_us,
)
from services.features.core.state import MAX_FINE_ENTRIES, STATE_FORMAT_VERSION
from services.features.core.timeline import to_us

BuildState = Callable[..., CustomerState]


def a_busy_quarter(events):
    """Events over 80 days: orders with addresses and a cancellation, credit, payments,
    refunds (one waiting for its order) and reviews."""
    history = []
    for day in range(-80, 1, 4):
        order_id = f"o{day}"
        history += [
            events.order(events.at(days=day), order_id, method="bnpl", address=f"a{day % 3}"),
            events.payment(events.at(days=day, hours=1), order_id, kind="repayment", amount="30"),
            events.review(events.at(days=day, hours=2), order_id, rating=(day % 5) + 1),
        ]
    history += [
        events.order(events.at(days=-1), "o-4", method="bnpl", status="cancelled"),
        events.refund(events.at(hours=-2), "o-8", "r1", goods_returned=False),
        events.refund(events.at(hours=-1), "o-late", "r2", amount="20"),
        events.payment(events.at(hours=-1), "o-8", status="failed"),
    ]
    return history


def test_round_trip_keeps_the_state_and_its_features(events, build_state: BuildState):
    state = build_state(*a_busy_quarter(events))

    restored = CustomerState.from_bytes(state.to_bytes())

    assert restored == state
    for as_of in (events.anchor, events.at(hours=-20), events.at(days=45)):
        assert compute_features(restored, as_of) == compute_features(state, as_of)
    assert restored.orders["o-late"].pending_credit == [(to_us(events.at(hours=-1)), -200_000)]


def test_a_new_state_round_trips(events):
    state = CustomerState.new("c1")

    assert CustomerState.from_bytes(state.to_bytes()) == state


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "version None"),
        (orjson.dumps({"v": STATE_FORMAT_VERSION + 1}), f"version {STATE_FORMAT_VERSION + 1}"),
        (orjson.dumps({"v": STATE_FORMAT_VERSION, "id": "c1"}), "malformed"),
    ],
)
def test_unreadable_state_is_refused(data, message):
    with pytest.raises(StateFormatError, match=message):
        CustomerState.from_bytes(data)


def test_unreadable_records_are_refused_when_first_needed(events, build_state: BuildState):
    header = build_state(events.order(events.at(), "o1")).to_bytes().partition(b"\n")[0]
    state = CustomerState.from_bytes(header + b"\n{broken")

    assert compute_features(state, events.anchor)["orders_count_1h"] == 1.0
    with pytest.raises(StateFormatError, match="records are malformed"):
        apply_event(state, events.order(events.at(), "o2"), events.anchor)


def test_recent_entries_are_folded_into_day_buckets_without_changing_features(
    events, build_state: BuildState
):
    history = a_busy_quarter(events)
    state = build_state(*history)
    folded = build_state(*history)
    as_of = events.at(days=1, hours=12)

    folded.advance_clock(to_us(as_of))

    assert len(folded.fine) < len(state.fine)
    assert all(entry.at_us >= to_us(events.at(days=-1, hours=-12)) for entry in folded.fine)
    assert compute_features(folded, as_of) == compute_features(state, as_of)


def test_data_no_window_can_read_is_dropped(events, build_state: BuildState):
    state = build_state(*a_busy_quarter(events))

    state.advance_clock(to_us(events.at(days=60)))

    oldest_day = min(day for rows in state.buckets for day in rows)
    assert from_us(oldest_day * 86_400_000_000) >= events.at(days=-30, hours=-12)
    assert state.addresses == {}  # every order was placed more than 30 days before
    assert "o-80" not in state.orders
    assert "o0" in state.orders
    features = compute_features(state, events.at(days=60))
    assert features["orders_count_90d"] == 8.0
    assert features["shipping_addresses_distinct_30d"] == 0.0


def test_order_records_live_while_the_order_sees_activity(events, build_state: BuildState):
    state = build_state(
        events.order(events.at(days=-100), "o1", method="bnpl", amount="90"),
        events.payment(events.at(days=-50), "o1", kind="repayment", amount="30"),
        events.payment(events.at(days=-5), "o1", kind="repayment", amount="30"),
        events.order(events.at(), "o1", method="bnpl", status="cancelled"),
    )

    assert "o1" in state.orders
    assert compute_features(state, events.anchor)["credit_outstanding"] == 0.0


def test_an_overloaded_customer_keeps_a_bounded_state_and_exact_long_windows(events):
    state = CustomerState.new("c1")
    count = MAX_FINE_ENTRIES + 100
    for i in range(count):
        order = events.order(events.at(seconds=i), f"o{i}", amount="1")
        apply_event(state, order, order.occurred_at)

    features = compute_features(state, events.at(seconds=count))

    assert len(state.fine) <= MAX_FINE_ENTRIES
    assert features["orders_count_90d"] == float(count)
    assert features["orders_amount_90d"] == float(count)
    # Folded early, the oldest orders fall out of the short windows: the documented cost.
    assert features["orders_count_24h"] == float(len(state.fine))
