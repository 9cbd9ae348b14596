"""Shared risk signals between platforms (docs/sharing.md).

On the exchange (``signals.shared``, in this platform's cluster or another): a
:class:`SignalPublication` says that an issuing platform found a serious risk about the
person behind some keyed identifier hashes, and a :class:`SignalRetraction` withdraws it.
Neither carries a raw identifier, a name or a customer id of the issuer's.

Inside the platform: the signal gateway forwards each accepted signal once per subject
(:class:`AcceptedSignal`) and the feature worker files the customers' own hashes
(:class:`ContactLink`) on ``signals.subjects``, keyed by the subject, so both meet in one
partition; what matches goes to the customer as a :class:`MatchedSignal` on
``signals.matched``, keyed by customer id like the events.

Signatures: an issuer signs a record with ``HMAC-SHA256(issuer secret, canonical bytes)``
where the canonical bytes are the record's JSON object without ``signature``, keys sorted at
every level, no insignificant whitespace, UTF-8 (:func:`canonical_bytes`). The receiver
checks the bytes it received, so both sides agree whatever JSON library they use.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, model_validator

from schemas.common import STRICT, Identifier, Timestamp
from schemas.identifiers import IdentifierKind, KeyedHash

SignalType = Literal["confirmed_fraud", "serious_delinquency_90d", "chargeback_abuse"]
SIGNAL_TYPES: tuple[SignalType, ...] = (
    "confirmed_fraud",
    "serious_delinquency_90d",
    "chargeback_abuse",
)
Severity = Literal["low", "medium", "high"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high")
LegalBasis = Literal[
    "consent", "contract", "legal_obligation", "legitimate_interest", "public_interest"
]
"""Why the issuer may share the signal: the customer's consent (then ``consent_ref`` names
the record of it) or another lawful basis (PIPL art. 13, GDPR art. 6)."""
RetractionReason = Literal[
    "issued_in_error", "dispute_upheld", "resolved", "consent_withdrawn", "other"
]
IssuerId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
"""A platform's id on the exchange: lower-case letters, digits, ``.``, ``_`` or ``-``."""
Signature = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
MAX_SUBJECTS = 4
"""Identifiers one signal may name (e.g. the phone and the ID number of one person): the
receiver counts a signal once per customer, however many of them match."""


class SignalPublication(BaseModel):
    """An issuer's signal about the person behind ``subjects``."""

    model_config = STRICT

    schema_version: Literal[1] = 1
    action: Literal["publish"]
    signal_id: Identifier = Field(description="Unique per issuer; a retraction names it.")
    issuer: IssuerId
    signal_type: SignalType
    severity: Severity
    observed_on: date = Field(description="The day of the fact the signal reports.")
    issued_at: Timestamp
    expires_at: Timestamp | None = Field(
        default=None, description="When the signal stops counting (none: until retracted)."
    )
    subjects: list[KeyedHash] = Field(min_length=1, max_length=MAX_SUBJECTS)
    legal_basis: LegalBasis
    consent_ref: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = Field(
        default=None, description="The issuer's record of the customer's consent."
    )
    signature: Signature | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SignalPublication:
        if self.legal_basis == "consent" and self.consent_ref is None:
            raise ValueError("consent_ref is required when the legal basis is consent")
        if self.expires_at is not None and self.expires_at <= self.issued_at:
            raise ValueError("expires_at must be after issued_at")
        if self.observed_on > self.issued_at.date():
            raise ValueError("observed_on is after issued_at")
        return self


class SignalRetraction(BaseModel):
    """The issuer withdraws its signal ``signal_id``; it names the same subjects, so the
    retraction reaches every customer the signal reached."""

    model_config = STRICT

    schema_version: Literal[1] = 1
    action: Literal["retract"]
    signal_id: Identifier
    issuer: IssuerId
    issued_at: Timestamp
    subjects: list[KeyedHash] = Field(min_length=1, max_length=MAX_SUBJECTS)
    reason: RetractionReason
    signature: Signature | None = None


SharedSignal = Annotated[SignalPublication | SignalRetraction, Field(discriminator="action")]
SIGNAL_MODELS: dict[str, type[BaseModel]] = {
    "publish": SignalPublication,
    "retract": SignalRetraction,
}
SHARED_SIGNAL: TypeAdapter[SignalPublication | SignalRetraction] = TypeAdapter(SharedSignal)


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: the record without ``signature``, keys sorted at every
    level, compact, UTF-8."""
    unsigned = {key: value for key, value in document.items() if key != "signature"}
    return orjson.dumps(unsigned, option=orjson.OPT_SORT_KEYS)


def signature_of(document: Mapping[str, Any], secret: bytes) -> str:
    """``HMAC-SHA256(secret, canonical_bytes(document))`` as lower-case hex."""
    return hmac.new(secret, canonical_bytes(document), hashlib.sha256).hexdigest()


AnySignal = TypeVar("AnySignal", SignalPublication, SignalRetraction)


def signed(signal: AnySignal, secret: bytes) -> AnySignal:
    """The signal with its issuer's signature over its JSON form (nulls left out), which is
    what the issuer publishes (``model_dump_json(exclude_none=True)``)."""
    document = signal.model_dump(mode="json", exclude_none=True, exclude={"signature"})
    return signal.model_copy(update={"signature": signature_of(document, secret)})


class SignalPublishRequest(BaseModel):
    """``POST /v1/signals`` on the signal gateway: this platform publishes a signal about
    the person behind ``subjects`` (the same keyed hashes its onboarding system sent in
    the customer's registration). Issuer, issue time and signature are added."""

    model_config = STRICT

    signal_id: Identifier | None = Field(
        default=None, description="Unique among this platform's signals; generated if absent."
    )
    signal_type: SignalType
    severity: Severity
    observed_on: date
    expires_at: Timestamp | None = None
    subjects: list[KeyedHash] = Field(min_length=1, max_length=MAX_SUBJECTS)
    legal_basis: LegalBasis
    consent_ref: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)] = Field(
        description="Why (for the audit trail; not published)."
    )


class SignalRetractRequest(BaseModel):
    """``POST /v1/signals/{signal_id}:retract``: withdraws one of this platform's signals,
    naming the subjects it was published with."""

    model_config = STRICT

    subjects: list[KeyedHash] = Field(min_length=1, max_length=MAX_SUBJECTS)
    reason: RetractionReason
    comment: Annotated[str, StringConstraints(min_length=1, max_length=500)] = Field(
        description="Why (for the audit trail; not published)."
    )


_INTERNAL = ConfigDict(frozen=True, extra="forbid")


class ContactLink(BaseModel):
    """On ``signals.subjects``: the customer holds this identifier hash (from a
    registration event). Written by the feature worker for every registration it reads."""

    model_config = _INTERNAL

    record: Literal["contact"] = "contact"
    customer_id: Identifier
    subject: KeyedHash


class AcceptedSignal(BaseModel):
    """On ``signals.subjects``: a signal the gateway accepted, once per subject it names
    (``subject``, the record's key). ``effective_at`` is when it takes effect: its
    ``issued_at``, or the instant the gateway accepted it if the issuer's clock ran ahead."""

    model_config = _INTERNAL

    record: Literal["signal"] = "signal"
    subject: KeyedHash
    signal: SharedSignal
    effective_at: Timestamp


SubjectRecord = Annotated[ContactLink | AcceptedSignal, Field(discriminator="record")]
SUBJECT_RECORD: TypeAdapter[ContactLink | AcceptedSignal] = TypeAdapter(SubjectRecord)


class MatchedSignal(BaseModel):
    """On ``signals.matched``, keyed by ``customer_id``: a signal (or its retraction) that
    reached the customer through ``subject_kind``. A retraction of a signal the platform
    never saw published carries no type or severity."""

    model_config = _INTERNAL

    customer_id: Identifier
    issuer: IssuerId
    signal_id: Identifier
    action: Literal["publish", "retract"]
    signal_type: SignalType | None = None
    severity: Severity | None = None
    effective_at: Timestamp
    expires_at: Timestamp | None = None
    subject_kind: IdentifierKind

    @model_validator(mode="after")
    def _published_with_type(self) -> MatchedSignal:
        if self.action == "publish" and (self.signal_type is None or self.severity is None):
            raise ValueError("a published signal carries its signal_type and severity")
        return self

    @property
    def match_id(self) -> str:
        """Stable id of this match (customer, issuer, signal, action): the trigger of the
        feature update and score it causes, the same however often it is delivered."""
        text = "\x1f".join((self.customer_id, self.issuer, self.signal_id, self.action))
        return hashlib.sha256(text.encode()).hexdigest()[:32]
