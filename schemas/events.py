"""The inbound events (CONTRACTS.md, "Inbound events"): the four business events (order,
payment, refund, review) and the three onboarding events (registration, verification,
bureau report; docs/events.md, "Onboarding events").

Every event carries the common envelope; ``event_type`` selects the model. Parsing is strict:
unknown fields, naive timestamps, negative amounts and events more than
:data:`MAX_FUTURE_SKEW` ahead of the receiver's clock are rejected.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationInfo,
    field_validator,
)

from schemas.common import STRICT, Amount, Currency, Identifier, LanguageTag, Timestamp
from schemas.identifiers import KeyedHash

SCHEMA_VERSION = 1
MAX_FUTURE_SKEW = timedelta(minutes=5)
NOW_CONTEXT_KEY = "now"
"""Validation context key holding the receiver's clock (an aware datetime)."""

PaymentMethod = Literal["card", "bnpl", "instalment", "wallet", "cod", "bank_transfer"]
CREDIT_PAYMENT_METHODS: frozenset[str] = frozenset({"bnpl", "instalment"})
Channel = Literal["app", "web", "mini_program"]
EventType = Literal[
    "order", "payment", "refund", "review", "registration", "verification", "bureau_report"
]
TriggerType = EventType | Literal["shared_signal"]
"""What caused a feature update (and the score it leads to): an inbound event, or a shared
signal that reached the customer (``signals.matched``)."""
VerificationKind = Literal["phone", "email", "real_name", "bank_card"]
VERIFICATION_KINDS: tuple[VerificationKind, ...] = ("phone", "email", "real_name", "bank_card")
ProviderName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
"""A data provider's id: lower-case letters, digits, ``_``, ``.`` or ``-`` (1..64)."""
MAX_CONTACT_HASHES = 8


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
    channel: Channel
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


class RegistrationEvent(EventEnvelope):
    """The customer registered. ``contact_hashes`` are keyed hashes of the customer's
    identifiers (never the identifiers): what lets a shared signal about the same person
    reach this customer (docs/sharing.md). A later registration event of the same customer
    adds its hashes (this is how hashes under a new consortium key arrive) and keeps the
    first registration's instant."""

    event_type: Literal["registration"]
    channel: Channel
    contact_hashes: list[KeyedHash] = Field(default_factory=list, max_length=MAX_CONTACT_HASHES)


class VerificationEvent(EventEnvelope):
    """An identity check and its result: phone or e-mail ownership, real name against an ID
    document, or a bank card in the customer's name. The latest result of a kind counts."""

    event_type: Literal["verification"]
    kind: VerificationKind
    result: Literal["passed", "failed"]
    provider: ProviderName


class BureauReportEvent(EventEnvelope):
    """A credit bureau's (or a platform credit score's) report on the customer: the score on
    the provider's scale, delinquencies on file and credit inquiries in the last 6 months,
    as fetched at ``fetched_at``."""

    event_type: Literal["bureau_report"]
    provider: ProviderName
    scale_min: float = Field(allow_inf_nan=False, ge=-1_000_000, le=1_000_000)
    scale_max: float = Field(allow_inf_nan=False, ge=-1_000_000, le=1_000_000)
    score: float = Field(allow_inf_nan=False, description="Within [scale_min, scale_max].")
    delinquencies: int = Field(ge=0, le=10_000)
    inquiries_6m: int = Field(ge=0, le=10_000)
    fetched_at: Timestamp = Field(description="When the bureau produced the report.")

    @field_validator("scale_max")
    @classmethod
    def _a_scale(cls, value: float, info: ValidationInfo) -> float:
        low = info.data.get("scale_min")
        if low is not None and value <= low:
            raise ValueError("scale_max must be above scale_min")
        return value

    @field_validator("score")
    @classmethod
    def _on_the_scale(cls, value: float, info: ValidationInfo) -> float:
        low, high = info.data.get("scale_min"), info.data.get("scale_max")
        if low is not None and high is not None and not low <= value <= high:
            raise ValueError(f"score must lie within [scale_min, scale_max] = [{low}, {high}]")
        return value

    @field_validator("fetched_at")
    @classmethod
    def _fetched_before_use(cls, value: datetime, info: ValidationInfo) -> datetime:
        occurred_at = info.data.get("occurred_at")
        if occurred_at is not None and value - occurred_at > MAX_FUTURE_SKEW:
            raise ValueError("fetched_at is after occurred_at: a report is fetched before use")
        return value


InboundEvent = Annotated[
    OrderEvent
    | PaymentEvent
    | RefundEvent
    | ReviewEvent
    | RegistrationEvent
    | VerificationEvent
    | BureauReportEvent,
    Field(discriminator="event_type"),
]
ProfileEvent = RegistrationEvent | VerificationEvent | BureauReportEvent
"""The onboarding events: they describe who the customer is, not what they did, and count
over the customer's lifetime rather than in windows."""
EVENT_MODELS: dict[str, type[EventEnvelope]] = {
    "order": OrderEvent,
    "payment": PaymentEvent,
    "refund": RefundEvent,
    "review": ReviewEvent,
    "registration": RegistrationEvent,
    "verification": VerificationEvent,
    "bureau_report": BureauReportEvent,
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
