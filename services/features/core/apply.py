"""Applying one inbound event, or one shared signal that reached the customer, to the
customer's state (docs/features.md, "Event rules")."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from schemas.events import (
    BureauReportEvent,
    InboundEvent,
    OrderEvent,
    PaymentEvent,
    RefundEvent,
    RegistrationEvent,
    ReviewEvent,
    VerificationEvent,
)
from schemas.signals import MatchedSignal
from services.features.core.errors import CustomerMismatchError
from services.features.core.profile import apply_profile_event
from services.features.core.signals import record_signal
from services.features.core.state import (
    AMOUNT_SCALE,
    CustomerState,
    Entry,
    Family,
    OrderRecord,
    RefundRecord,
    stable_id,
)
from services.features.core.timeline import HORIZON_DAYS, US_PER_DAY, day_of, to_us

_HORIZON_US = HORIZON_DAYS * US_PER_DAY
_NEGATIVE_RATING = 2
_CANCELLATION = (0, 0, 1, 0, 0)
_CHARGEBACK = (0, 0, 1, 0, 0, 0, 0)
_REFUND_REJECTED = (0, 0, 0, 1)
_PROFILE_EVENTS = (RegistrationEvent, VerificationEvent, BureauReportEvent)


class ApplyOutcome(StrEnum):
    """What :func:`apply_event` did with an event."""

    APPLIED = "applied"
    """The event is now part of the state."""
    DUPLICATE = "duplicate"
    """Already applied: a remembered payment or review event_id, or an order or refund status
    that was already applied to that order or refund."""
    TOO_OLD = "too_old"
    """Older than the 90-day horizon relative to the processing clock (business events
    only: onboarding events and signals count whenever they arrive)."""


def _check_customer(state: CustomerState, customer_id: str, what: str) -> None:
    if customer_id != state.customer_id:
        raise CustomerMismatchError(
            f"{what} of customer {customer_id!r} applied to the state of {state.customer_id!r}"
        )


def _processing_clock(state: CustomerState, now: datetime) -> int:
    clock_us = to_us(now)
    if state.clock_us is not None and state.clock_us > clock_us:
        return state.clock_us
    return clock_us


def apply_event(state: CustomerState, event: InboundEvent, now: datetime) -> ApplyOutcome:
    """Applies ``event`` to ``state`` at processing time ``now`` (an aware instant).

    The processing clock is ``max(now, state's clock)``: it never goes back. An event whose
    ``occurred_at`` is more than 90 days before it is TOO_OLD; a repeated ``event_id``
    (of the last 512 payments and reviews applied) or a repeated order/refund status is
    DUPLICATE. Neither changes the state. Payment, review and onboarding event ids are
    remembered; order and refund events are recognised by their order/refund record
    instead. Otherwise the event lands in the windows of its own ``occurred_at``, whatever
    order events arrive in, and data no window can read any more is dropped. Onboarding
    events (registration, verification, bureau report) go to the customer's profile at any
    age and do not make the customer's first event (``days_since_first_event`` stays about
    orders, payments, refunds and reviews).
    Raises :class:`CustomerMismatchError` for another customer's event.
    """
    _check_customer(state, event.customer_id, f"event {event.event_id!r}")
    event_key = stable_id(event.event_id)
    if state.has_seen(event_key):
        return ApplyOutcome.DUPLICATE
    at_us = to_us(event.occurred_at)
    clock_us = _processing_clock(state, now)
    if isinstance(event, _PROFILE_EVENTS):
        apply_profile_event(state, event)
        state.remember(event_key)
        state.advance_clock(clock_us)
        return ApplyOutcome.APPLIED
    if at_us < clock_us - _HORIZON_US:
        return ApplyOutcome.TOO_OLD
    if isinstance(event, OrderEvent):
        outcome = _apply_order(state, event, at_us)
    elif isinstance(event, PaymentEvent):
        outcome = _apply_payment(state, event, at_us)
    elif isinstance(event, RefundEvent):
        outcome = _apply_refund(state, event, at_us)
    else:
        outcome = _apply_review(state, event, at_us)
    if outcome is ApplyOutcome.APPLIED:
        if isinstance(event, PaymentEvent | ReviewEvent):
            # Order and refund events are idempotent through their records (each status
            # applies once); only payments and reviews need their ids remembered.
            state.remember(event_key)
        if state.first_event_us is None or at_us < state.first_event_us:
            state.first_event_us = at_us
        # Entries were placed against the previous clock; advancing folds any that the new
        # clock moves out of the fine span.
        state.advance_clock(clock_us)
    return outcome


def apply_signal(state: CustomerState, matched: MatchedSignal, now: datetime) -> ApplyOutcome:
    """Files a shared signal (or its retraction) that reached the customer, at processing
    time ``now``. DUPLICATE when that publication or retraction was already filed; a signal
    counts at any age, until retracted or expired (see ``services.features.core.signals``).
    Raises :class:`CustomerMismatchError` for another customer's match."""
    _check_customer(state, matched.customer_id, f"signal {matched.signal_id!r}")
    clock_us = _processing_clock(state, now)
    if not record_signal(state, matched):
        return ApplyOutcome.DUPLICATE
    state.advance_clock(clock_us)
    return ApplyOutcome.APPLIED


def _minor_units(amount: Decimal) -> int:
    return int(amount * AMOUNT_SCALE)


def _touch(state: CustomerState, order_id: str, at_us: int) -> OrderRecord | None:
    """Marks activity on a known order (which keeps its record alive) and returns it."""
    record = state.orders.get(order_id)
    if record is not None and at_us > record.last_us:
        record.last_us = at_us
    return record


def _order_credit_delta(state: CustomerState, order_id: str, at_us: int, delta: int) -> int:
    """``delta`` if the order is on credit, 0 if not; if its payment method is not known
    yet, the adjustment waits on the order's record and 0 is returned for now."""
    record = _touch(state, order_id, at_us)
    if record is None:
        record = OrderRecord(last_us=at_us)
        state.orders[order_id] = record
    if record.credit is None:
        record.pending_credit.append((at_us, delta))
        return 0
    return delta if record.credit else 0


def _learn_payment_method(state: CustomerState, record: OrderRecord, on_credit: bool) -> None:
    """Fixes the order's credit flag from its first order event and releases the credit
    adjustments that were waiting for it."""
    if record.credit is not None:
        return
    record.credit = on_credit
    if on_credit:
        for at_us, delta in record.pending_credit:
            state.add_entry(Entry(at_us, Family.CREDIT, day_of(at_us), (), delta))
    record.pending_credit.clear()


def _add_cancellation(state: CustomerState, record: OrderRecord) -> None:
    """A cancellation belongs to the day the order was placed and takes effect when both
    the placement and the cancellation have happened."""
    assert record.placed_us is not None
    assert record.cancelled_us is not None
    state.add_entry(
        Entry(
            at_us=max(record.placed_us, record.cancelled_us),
            family=Family.ORDERS,
            day=day_of(record.placed_us),
            delta=_CANCELLATION,
            credit_delta=-record.amount if record.credit else 0,
        )
    )


def _apply_order(state: CustomerState, event: OrderEvent, at_us: int) -> ApplyOutcome:
    record = state.orders.get(event.order_id)
    if record is not None and (
        (event.status == "placed" and record.placed_us is not None)
        or (event.status == "cancelled" and record.cancelled_us is not None)
        or (event.status == "completed" and record.completed)
    ):
        return ApplyOutcome.DUPLICATE
    if record is None:
        record = OrderRecord(last_us=at_us)
        state.orders[event.order_id] = record
    elif at_us > record.last_us:
        record.last_us = at_us
    if record.placed_us is None:
        # Until the placed event arrives, the amount of any event of the order stands in.
        record.amount = _minor_units(event.amount)
    _learn_payment_method(state, record, event.on_credit)
    if event.status == "placed":
        amount = _minor_units(event.amount)
        on_credit = event.on_credit
        record.placed_us, record.amount, record.credit = at_us, amount, on_credit
        address = event.shipping_address_hash
        state.add_entry(
            Entry(
                at_us=at_us,
                family=Family.ORDERS,
                day=day_of(at_us),
                delta=(1, amount, 0, int(on_credit), amount),
                credit_delta=amount if on_credit else 0,
                address=stable_id(address) if address is not None else None,
            )
        )
        if record.cancelled_us is not None:
            _add_cancellation(state, record)
    elif event.status == "cancelled":
        record.cancelled_us = at_us
        if record.placed_us is not None:
            _add_cancellation(state, record)
    else:
        record.completed = True
    return ApplyOutcome.APPLIED


def _apply_payment(state: CustomerState, event: PaymentEvent, at_us: int) -> ApplyOutcome:
    amount = _minor_units(event.amount)
    succeeded = event.status == "succeeded"
    if event.kind == "chargeback":
        # A chargeback that goes through claws back money paid towards the order: on a
        # credit order that money was a repayment, so the debt is owed again.
        credit_delta = _order_credit_delta(state, event.order_id, at_us, amount) if succeeded else 0
        state.add_entry(Entry(at_us, Family.PAYMENTS, day_of(at_us), _CHARGEBACK, credit_delta))
        return ApplyOutcome.APPLIED
    _touch(state, event.order_id, at_us)
    failed = 0 if succeeded else 1
    if event.kind == "repayment" and succeeded:
        days_past_due = event.days_past_due or 0
        delta = (1, failed, 0, 1, int(days_past_due == 0), days_past_due, days_past_due)
        credit_delta = -amount
    else:
        delta = (1, failed, 0, 0, 0, 0, 0)
        credit_delta = 0
    state.add_entry(Entry(at_us, Family.PAYMENTS, day_of(at_us), delta, credit_delta))
    return ApplyOutcome.APPLIED


def _apply_refund(state: CustomerState, event: RefundEvent, at_us: int) -> ApplyOutcome:
    record = state.refunds.get(event.refund_id)
    if record is not None and event.status in record.statuses:
        return ApplyOutcome.DUPLICATE
    if record is None:
        record = RefundRecord(last_us=at_us)
        state.refunds[event.refund_id] = record
    elif at_us > record.last_us:
        record.last_us = at_us
    record.statuses.add(event.status)
    if event.status == "approved":
        amount = _minor_units(event.amount)
        credit_delta = _order_credit_delta(state, event.order_id, at_us, -amount)
        delta = (1, amount, 0 if event.goods_returned else 1, 0)
        state.add_entry(Entry(at_us, Family.REFUNDS, day_of(at_us), delta, credit_delta))
    else:
        _touch(state, event.order_id, at_us)
        if event.status == "rejected":
            state.add_entry(Entry(at_us, Family.REFUNDS, day_of(at_us), _REFUND_REJECTED))
    return ApplyOutcome.APPLIED


def _apply_review(state: CustomerState, event: ReviewEvent, at_us: int) -> ApplyOutcome:
    _touch(state, event.order_id, at_us)
    delta = (
        1,
        event.rating,
        int(event.rating <= _NEGATIVE_RATING),
        int(event.flagged_abusive),
    )
    state.add_entry(Entry(at_us, Family.REVIEWS, day_of(at_us), delta))
    return ApplyOutcome.APPLIED
