"""The signal gateway's rules, without I/O: what an inbound record from the exchange must be
to count (docs/sharing.md, "What is refused"), and how this platform's own signals are made.

:func:`check_signal` judges one record: refused (with the reason that goes on the dead
letter, and the record as the dead letter may keep it: a raw identifier is redacted before
it is stored anywhere), this platform's own (not counted twice), or accepted with the
instant it takes effect.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError

from schemas.common import field_errors
from schemas.signals import (
    SHARED_SIGNAL,
    SIGNAL_MODELS,
    SignalPublication,
    SignalPublishRequest,
    SignalRetraction,
    SignalRetractRequest,
    signature_of,
    signed,
)

MAX_FUTURE_SKEW = timedelta(minutes=5)
REDACTED = "[redacted]"


class Reason:
    """Why a record is refused: the dead letter's ``reason``."""

    INVALID_JSON = "invalid_json"
    SCHEMA_VIOLATION = "schema_violation"
    RAW_IDENTIFIER = "raw_identifier"
    """A value looks like a phone number, e-mail address, ID or card number, or a field is
    named like one: identifiers may only travel as keyed hashes."""
    BAD_HASH = "bad_hash"
    """A subject's hash is not an HMAC-SHA256 digest (64 lower-case hex digits)."""
    UNKNOWN_ISSUER = "unknown_issuer"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    """A published signal's hash is under a consortium key this platform does not accept."""
    TOO_OLD = "too_old"
    FROM_THE_FUTURE = "from_the_future"
    EXPIRED = "expired"


_RAW_FIELD_NAMES = frozenset(
    {
        "phone",
        "phone_number",
        "mobile",
        "email",
        "id_number",
        "id_card",
        "national_id",
        "passport",
        "bank_card",
        "card_number",
        "name",
        "full_name",
        "identifier",
    }
)
"""Fields that name a raw identifier: their values are never kept, whatever they hold."""
_RAW_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an e-mail address", re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")),
    ("a phone number", re.compile(r"^(?:\+|00)[0-9][0-9 \-]{6,18}$")),
    ("a mainland mobile number", re.compile(r"^1[3-9][0-9]{9}$")),
    ("an ID number", re.compile(r"^[0-9]{17}[0-9Xx]$|^[0-9]{15}$")),
    ("a card number", re.compile(r"^[0-9]{13,19}$")),
)


@dataclass(frozen=True, slots=True)
class IntakePolicy:
    """What an inbound signal must satisfy. ``issuers`` maps each allow-listed issuer to
    its signing secrets (none: the issuer is trusted on the exchange's access control and
    its records need no signature)."""

    platform_id: str
    issuers: Mapping[str, tuple[bytes, ...]]
    key_ids: frozenset[str]
    max_age: timedelta


@dataclass(frozen=True, slots=True)
class Accepted:
    signal: SignalPublication | SignalRetraction
    effective_at: datetime
    """``issued_at``, or now if the issuer's clock ran ahead of ours (at most 5 minutes)."""


@dataclass(frozen=True, slots=True)
class Own:
    """This platform's own signal, back from the exchange: not counted again."""

    signal: SignalPublication | SignalRetraction


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str
    detail: str
    kept_value: bytes | None = field(default=None)
    """What the dead letter may keep instead of the original bytes (a raw identifier
    redacted); None: the original."""


def check_signal(
    value: bytes | None, policy: IntakePolicy, now: datetime
) -> Accepted | Own | Refused:
    """Judges one record read from the exchange (see the module docstring). Checks, in
    order: JSON, raw identifiers, the schema (a malformed hash is ``bad_hash``), the
    issuer, its signature, the consortium key (publications only: a retraction can only
    take information away) and the age."""
    try:
        document = orjson.loads(value or b"")
    except orjson.JSONDecodeError as error:
        return Refused(Reason.INVALID_JSON, f"value is not UTF-8 JSON: {error}")
    if not isinstance(document, dict):
        return Refused(Reason.SCHEMA_VIOLATION, "body: a signal must be a JSON object")
    found = list(_raw_identifiers(document))
    if found:
        detail = "; ".join(f"{path}: looks like {what}" for path, what in found)
        redacted = orjson.dumps(_redacted(document, {path for path, _ in found}))
        return Refused(Reason.RAW_IDENTIFIER, detail, redacted)
    try:
        signal = SHARED_SIGNAL.validate_python(document)
    except ValidationError as error:
        errors = field_errors(error.errors(), union_tags=frozenset(SIGNAL_MODELS))
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        bad_hash = any(e["field"].endswith(".hash") for e in errors)
        return Refused(Reason.BAD_HASH if bad_hash else Reason.SCHEMA_VIOLATION, detail)
    if signal.issuer == policy.platform_id:
        return Own(signal)
    secrets = policy.issuers.get(signal.issuer)
    if secrets is None:
        return Refused(Reason.UNKNOWN_ISSUER, f"issuer {signal.issuer!r} is not allow-listed")
    if secrets and not _signed_by(document, signal.signature, secrets):
        return Refused(Reason.BAD_SIGNATURE, f"no valid signature of issuer {signal.issuer!r}")
    if isinstance(signal, SignalPublication):
        unknown = sorted({s.key_id for s in signal.subjects} - policy.key_ids)
        if unknown:
            return Refused(Reason.UNKNOWN_KEY, f"subjects: consortium key ids {unknown} unknown")
    if now - signal.issued_at > policy.max_age:
        return Refused(Reason.TOO_OLD, f"issued_at is more than {policy.max_age} ago")
    if signal.issued_at - now > MAX_FUTURE_SKEW:
        return Refused(Reason.FROM_THE_FUTURE, "issued_at is more than 5 minutes ahead")
    if (
        isinstance(signal, SignalPublication)
        and signal.expires_at is not None
        and signal.expires_at <= now
    ):
        return Refused(Reason.EXPIRED, "expires_at has passed")
    return Accepted(signal, min(signal.issued_at, now))


def _signed_by(
    document: Mapping[str, Any], signature: str | None, secrets: tuple[bytes, ...]
) -> bool:
    """True when ``signature`` is the issuer's HMAC of the record under one of its secrets
    (compared in constant time, every secret tried)."""
    if signature is None:
        return False
    matches = [hmac.compare_digest(signature_of(document, secret), signature) for secret in secrets]
    return any(matches)


def _raw_identifiers(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, what) of every value that is, or is named like, a raw identifier."""
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if str(key).lower() in _RAW_FIELD_NAMES:
                yield child, f"a field named {key!r}"
            else:
                yield from _raw_identifiers(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _raw_identifiers(item, f"{path}.{index}" if path else str(index))
    elif isinstance(value, str | int) and not isinstance(value, bool):
        what = looks_raw(str(value))
        if what is not None:
            yield path, what


def looks_raw(text: str) -> str | None:
    """What raw identifier ``text`` looks like (``"a phone number"``...), or None."""
    for what, pattern in _RAW_PATTERNS:
        if pattern.match(text.strip()):
            return what
    return None


def _redacted(value: Any, paths: set[str], path: str = "") -> Any:
    """``value`` with every string under one of ``paths`` replaced by :data:`REDACTED`."""
    if path in paths:
        return _blank(value)
    if isinstance(value, dict):
        return {
            key: _redacted(item, paths, f"{path}.{key}" if path else str(key))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _redacted(item, paths, f"{path}.{index}" if path else str(index))
            for index, item in enumerate(value)
        ]
    return value


def _blank(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _blank(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_blank(item) for item in value]
    return REDACTED if value is not None else None


def publication(
    platform_id: str,
    request: SignalPublishRequest,
    signal_id: str,
    now: datetime,
    secret: bytes,
) -> SignalPublication:
    """This platform's signal, issued now and signed with its secret. Raises
    :class:`pydantic.ValidationError` when the request does not make a valid signal (no
    consent reference under consent, an expiry already past...)."""
    unsigned = SignalPublication(
        action="publish",
        signal_id=signal_id,
        issuer=platform_id,
        signal_type=request.signal_type,
        severity=request.severity,
        observed_on=request.observed_on,
        issued_at=now,
        expires_at=request.expires_at,
        subjects=request.subjects,
        legal_basis=request.legal_basis,
        consent_ref=request.consent_ref,
    )
    return signed(unsigned, secret)


def retraction(
    platform_id: str,
    signal_id: str,
    request: SignalRetractRequest,
    now: datetime,
    secret: bytes,
) -> SignalRetraction:
    """The retraction of this platform's signal ``signal_id``, issued now and signed."""
    unsigned = SignalRetraction(
        action="retract",
        signal_id=signal_id,
        issuer=platform_id,
        issued_at=now,
        subjects=request.subjects,
        reason=request.reason,
    )
    return signed(unsigned, secret)
