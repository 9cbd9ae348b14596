"""Property: the features do not depend on the order events arrive in, on duplicates, or on
the state being serialised and read back between events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import InboundEvent, OrderEvent, PaymentEvent, RefundEvent, ReviewEvent
from services.features.core import CustomerState, apply_event, compute_features

START = datetime(2026, 1, 5, 7, 30, tzinfo=UTC)
SPAN_SECONDS = 60 * 86_400

instants = st.integers(0, SPAN_SECONDS).map(lambda s: START + timedelta(seconds=s))
amounts = st.integers(1, 50_000).map(lambda cents: Decimal(cents) / 100)


@st.composite
def order_lifecycles(draw: st.DrawFn, number: int) -> list[InboundEvent]:
    """One order: placed, maybe cancelled or completed, with payments, refunds, a review."""
    order_id = f"o{number}"
    placed_at = draw(instants)
    amount = draw(amounts)
    common = {
        "customer_id": "c1",
        "order_id": order_id,
        "currency": "CNY",
    }
    order = {
        **common,
        "event_type": "order",
        "amount": amount,
        "payment_method": draw(st.sampled_from(["card", "bnpl", "instalment", "wallet"])),
        "item_count": 1,
        "channel": "web",
        "shipping_address_hash": draw(st.sampled_from(["a1", "a2", "a3", None])),
    }
    later = st.integers(0, 20 * 86_400).map(lambda s: placed_at + timedelta(seconds=s))
    lifecycle: list[InboundEvent] = [
        OrderEvent(event_id=f"{order_id}-p", occurred_at=placed_at, status="placed", **order)
    ]
    ending = draw(st.sampled_from([None, "cancelled", "completed"]))
    if ending is not None:
        lifecycle.append(
            OrderEvent(event_id=f"{order_id}-e", occurred_at=draw(later), status=ending, **order)
        )
    for i in range(draw(st.integers(0, 3))):
        lifecycle.append(
            PaymentEvent(
                event_id=f"{order_id}-pay{i}",
                event_type="payment",
                occurred_at=draw(later),
                payment_id=f"{order_id}-pay{i}",
                amount=draw(amounts),
                kind=draw(st.sampled_from(["charge", "repayment", "chargeback"])),
                status=draw(st.sampled_from(["succeeded", "failed"])),
                days_past_due=draw(st.none() | st.integers(0, 40)),
                **common,
            )
        )
    for i in range(draw(st.integers(0, 2))):
        refund = {
            **common,
            "event_type": "refund",
            "refund_id": f"{order_id}-r{i}",
            "amount": draw(amounts),
            "reason": "other",
            "goods_returned": draw(st.booleans()),
        }
        lifecycle.append(
            RefundEvent(
                event_id=f"{order_id}-r{i}-q", occurred_at=draw(later), status="requested", **refund
            )
        )
        outcome = draw(st.sampled_from([None, "approved", "rejected"]))
        if outcome is not None:
            lifecycle.append(
                RefundEvent(
                    event_id=f"{order_id}-r{i}-o", occurred_at=draw(later), status=outcome, **refund
                )
            )
    if draw(st.booleans()):
        lifecycle.append(
            ReviewEvent(
                event_id=f"{order_id}-v",
                event_type="review",
                occurred_at=draw(later),
                review_id=f"{order_id}-v",
                rating=draw(st.integers(1, 5)),
                flagged_abusive=draw(st.booleans()),
                customer_id="c1",
                order_id=order_id,
            )
        )
    return lifecycle


@st.composite
def histories(draw: st.DrawFn) -> list[InboundEvent]:
    count = draw(st.integers(1, 8))
    return [event for n in range(count) for event in draw(order_lifecycles(n))]


def replayed(events: list[InboundEvent], round_trip_every: int = 0) -> CustomerState:
    state = CustomerState.new("c1")
    for position, event in enumerate(events, start=1):
        apply_event(state, event, event.occurred_at)
        if round_trip_every and position % round_trip_every == 0:
            state = CustomerState.from_bytes(state.to_bytes())
    return state


@settings(max_examples=80, deadline=None)
@given(history=histories(), data=st.data())
def test_features_do_not_depend_on_arrival_order_or_duplicates(history, data):
    in_time_order = replayed(sorted(history, key=lambda event: event.occurred_at))
    arrival = data.draw(st.permutations(history))
    repeats = data.draw(st.lists(st.sampled_from(history), max_size=6))
    for repeat in repeats:
        arrival.insert(data.draw(st.integers(0, len(arrival))), repeat)
    shuffled = replayed(arrival, round_trip_every=data.draw(st.integers(0, 5)))

    last = max(event.occurred_at for event in history)
    for later in (timedelta(0), timedelta(hours=1), timedelta(days=5), timedelta(days=40)):
        assert compute_features(shuffled, last + later) == compute_features(
            in_time_order, last + later
        )
