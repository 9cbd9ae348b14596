"""Building inbound events and feature states in tests: an event builder (every event
belongs to customer ``c1`` unless told otherwise; instants are offsets from a fixed anchor)
and a state builder. ``tests/conftest.py`` serves both as the ``events`` and
``build_state`` fixtures."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

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
from schemas.identifiers import KeyedHash
from schemas.signals import MatchedSignal
from services.features.core import ApplyOutcome, CustomerState, apply_event

ANCHOR = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
"""Tuesday 2026-03-10, noon UTC: the tests' "now"."""


class Events:
    """Builds contract-valid events with unique ids."""

    anchor = ANCHOR

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    @staticmethod
    def at(days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0) -> datetime:
        """The anchor shifted by the given amounts (negative: before it)."""
        return ANCHOR + timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)

    def _envelope(
        self, when: datetime, customer_id: str, event_id: str | None
    ) -> dict[str, object]:
        return {
            "event_id": event_id or f"ev-{next(self._ids)}",
            "customer_id": customer_id,
            "occurred_at": when,
        }

    def order(
        self,
        when: datetime,
        order_id: str,
        *,
        status: str = "placed",
        amount: str = "100",
        method: str = "card",
        address: str | None = None,
        customer_id: str = "c1",
        event_id: str | None = None,
    ) -> OrderEvent:
        return OrderEvent.model_validate(
            {
                **self._envelope(when, customer_id, event_id),
                "event_type": "order",
                "order_id": order_id,
                "amount": Decimal(amount),
                "currency": "CNY",
                "payment_method": method,
                "status": status,
                "item_count": 1,
                "channel": "app",
                "shipping_address_hash": address,
            }
        )

    def payment(
        self,
        when: datetime,
        order_id: str,
        *,
        kind: str = "charge",
        status: str = "succeeded",
        amount: str = "100",
        days_past_due: int | None = None,
        customer_id: str = "c1",
        event_id: str | None = None,
    ) -> PaymentEvent:
        return PaymentEvent.model_validate(
            {
                **self._envelope(when, customer_id, event_id),
                "event_type": "payment",
                "order_id": order_id,
                "payment_id": f"pay-{next(self._ids)}",
                "amount": Decimal(amount),
                "currency": "CNY",
                "kind": kind,
                "status": status,
                "days_past_due": days_past_due,
            }
        )

    def refund(
        self,
        when: datetime,
        order_id: str,
        refund_id: str,
        *,
        status: str = "approved",
        amount: str = "100",
        goods_returned: bool = True,
        customer_id: str = "c1",
        event_id: str | None = None,
    ) -> RefundEvent:
        return RefundEvent.model_validate(
            {
                **self._envelope(when, customer_id, event_id),
                "event_type": "refund",
                "order_id": order_id,
                "refund_id": refund_id,
                "amount": Decimal(amount),
                "currency": "CNY",
                "reason": "defective",
                "goods_returned": goods_returned,
                "status": status,
            }
        )

    def review(
        self,
        when: datetime,
        order_id: str,
        *,
        rating: int = 5,
        abusive: bool = False,
        customer_id: str = "c1",
        event_id: str | None = None,
    ) -> ReviewEvent:
        return ReviewEvent.model_validate(
            {
                **self._envelope(when, customer_id, event_id),
                "event_type": "review",
                "order_id": order_id,
                "review_id": f"rev-{next(self._ids)}",
                "rating": rating,
                "flagged_abusive": abusive,
            }
        )

    def registration(
        self,
        when: datetime,
        *contacts: KeyedHash,
        customer_id: str = "c1",
        event_id: str | None = None,
    ) -> RegistrationEvent:
        return RegistrationEvent.model_validate(
            {
                **self._envelope(when, customer_id, event_id),
                "event_type": "registration",
                "channel": "app",
                "contact_hashes": list(contacts),
            }
        )

    def verification(
        self,
        when: datetime,
        kind: str,
        *,
        passed: bool = True,
        customer_id: str = "c1",
        event_id: str | None = None,
    ) -> VerificationEvent:
        return VerificationEvent.model_validate(
            {
                **self._envelope(when, customer_id, event_id),
                "event_type": "verification",
                "kind": kind,
                "result": "passed" if passed else "failed",
                "provider": "kyc-test",
            }
        )

    def bureau_report(
        self,
        when: datetime,
        *,
        score: float = 800,
        provider: str = "sesame",
        scale: tuple[float, float] = (350, 950),
        delinquencies: int = 0,
        inquiries: int = 1,
        fetched: datetime | None = None,
        customer_id: str = "c1",
        event_id: str | None = None,
    ) -> BureauReportEvent:
        return BureauReportEvent.model_validate(
            {
                **self._envelope(when, customer_id, event_id),
                "event_type": "bureau_report",
                "provider": provider,
                "score": score,
                "scale_min": scale[0],
                "scale_max": scale[1],
                "delinquencies": delinquencies,
                "inquiries_6m": inquiries,
                "fetched_at": fetched or when,
            }
        )

    @staticmethod
    def matched(
        when: datetime,
        signal_id: str = "s1",
        *,
        action: str = "publish",
        signal_type: str = "confirmed_fraud",
        severity: str = "high",
        issuer: str = "okpay",
        expires: datetime | None = None,
        customer_id: str = "c1",
    ) -> MatchedSignal:
        """A shared signal (or its retraction) as it reaches the customer."""
        published = action == "publish"
        return MatchedSignal(
            customer_id=customer_id,
            issuer=issuer,
            signal_id=signal_id,
            action=action,  # type: ignore[arg-type]
            signal_type=signal_type if published else None,  # type: ignore[arg-type]
            severity=severity if published else None,  # type: ignore[arg-type]
            effective_at=when,
            expires_at=expires,
            subject_kind="phone",
        )


def build_state(*events: InboundEvent, customer_id: str = "c1") -> CustomerState:
    """A new state from events applied in the given order, each processed at its own
    ``occurred_at`` (as replay does); fails if any is not APPLIED."""
    state = CustomerState.new(customer_id)
    for event in events:
        outcome = apply_event(state, event, event.occurred_at)
        assert outcome is ApplyOutcome.APPLIED, (event.event_id, outcome)
    return state
