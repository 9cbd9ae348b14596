"""The four inbound business events (CONTRACTS.md, "Inbound events").

Every event carries the common envelope; ``event_type`` selects the model. Parsing is strict:
unknown fields, naive timestamps, negative amounts and events more than
:data:`MAX_FUTURE_SKEW` ahead of the receiver's clock are rejected.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationInfo, field_validator

from schemas.common import STRICT, Amount, Currency, Identifier, LanguageTag, Timestamp

SCHEMA_VERSION = 1
MAX_FUTURE_SKEW = timedelta(minutes=5)
NOW_CONTEXT_KEY = "now"
"""Validation context key holding the receiver's clock (an aware datetime)."""

PaymentMethod = Literal["card", "bnpl", "instalment", "wallet", "cod", "bank_transfer"]
CREDIT_PAYMENT_METHODS: frozenset[str] = frozenset({"bnpl", "instalment"})


class EventEnvelope(BaseModel):
    """Fields every inbound event carries."""

    model_config = STRICT

    event_id: Identifier = Field(description="Unique id; the idempotency key.")
    customer_id: Identifier
    occurred_at: Timestamp = Field(description="Event time; windows use it.")
    schema_version: Literal[1] = 1
    locale: LanguageTag | None = Field(
        default=None,
        description="The customer's language (BCP 47, e.g. zh-CN, en), when the channel "
        "knows it; notices and explanations are written in it.",
    )

    @field_validator("occurred_at")
    @classmethod
    def _not_in_the_future(cls, value: datetime, info: ValidationInfo) -> datetime:
        context = info.context or {}
        now = context.get(NOW_CONTEXT_KEY) or datetime.now(UTC)
        if value - now > MAX_FUTURE_SKEW:
            raise ValueError(
                f"occurred_at is more than {int(MAX_FUTURE_SKEW.total_seconds())} seconds "
                "in the future"
            )
        return value


class OrderEvent(EventEnvelope):
    """An order placed, cancelled or completed. An order counts once, at ``placed``."""

    event_type: Literal["order"]
    order_id: Identifier
    amount: Amount
    currency: Currency
    payment_method: PaymentMethod
    status: Literal["placed", "cancelled", "completed"]
    item_count: int = Field(ge=1, le=100_000)
    channel: Literal["app", "web", "mini_program"]
    shipping_address_hash: Annotated[str, Field(min_length=1, max_length=128)] | None = None

    @property
    def on_credit(self) -> bool:
        return self.payment_method in CREDIT_PAYMENT_METHODS


class PaymentEvent(EventEnvelope):
    """A charge, a repayment of credit, or a chargeback, succeeded or failed."""

    event_type: Literal["payment"]
    order_id: Identifier
    payment_id: Identifier
    amount: Amount
    currency: Currency
    kind: Literal["charge", "repayment", "chargeback"]
    status: Literal["succeeded", "failed"]
    due_at: Timestamp | None = None
    days_past_due: int | None = Field(default=None, ge=0, le=36_500)
    instalment_no: int | None = Field(default=None, ge=1, le=1_000)


class RefundEvent(EventEnvelope):
    """A refund requested, approved or rejected."""

    event_type: Literal["refund"]
    order_id: Identifier
    refund_id: Identifier
    amount: Amount
    currency: Currency
    reason: Literal["not_received", "defective", "not_as_described", "changed_mind", "other"]
    goods_returned: bool
    status: Literal["requested", "approved", "rejected"]


class ReviewEvent(EventEnvelope):
    """A product review left by the customer."""

    event_type: Literal["review"]
    order_id: Identifier
    review_id: Identifier
    rating: int = Field(ge=1, le=5)
    flagged_abusive: bool


InboundEvent = Annotated[
    OrderEvent | PaymentEvent | RefundEvent | ReviewEvent, Field(discriminator="event_type")
]
EVENT_MODELS: dict[str, type[EventEnvelope]] = {
    "order": OrderEvent,
    "payment": PaymentEvent,
    "refund": RefundEvent,
    "review": ReviewEvent,
}

_INBOUND: TypeAdapter[InboundEvent] = TypeAdapter(InboundEvent)


def parse_event(data: bytes | str | dict[str, Any], now: datetime | None = None) -> InboundEvent:
    """Parses one inbound event from JSON text or a decoded object.

    ``now`` is the receiver's clock for the future-skew check (defaults to the wall clock).
    Raises :class:`pydantic.ValidationError` naming each bad field.
    """
    context = {NOW_CONTEXT_KEY: now} if now is not None else None
    if isinstance(data, dict):
        return _INBOUND.validate_python(data, context=context)
    return _INBOUND.validate_json(data, context=context)


def parse_trusted_event(data: bytes | str) -> InboundEvent:
    """Parses an event that was already validated upstream, without the future-skew check
    (a replay of an old log must not be judged against today's clock)."""
    return _INBOUND.validate_json(data, context={NOW_CONTEXT_KEY: datetime.max.replace(tzinfo=UTC)})
