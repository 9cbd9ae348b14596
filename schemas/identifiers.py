"""Personal identifiers as platforms exchange them: never raw, only as a keyed hash.

A consortium of platforms agrees on a secret key (several during a rotation, each with a key
id). Whoever holds a raw identifier (the onboarding system at registration, an issuer
publishing a signal) normalises it (:func:`normalise_identifier`) and sends
``HMAC-SHA256(key, "<kind>:<normalised>")`` as lower-case hex with the key id
(:func:`keyed_hash`). Two platforms that hold the same customer's phone number compute the
same hash under the same key, and nobody without the key can test a guess against it.
docs/sharing.md describes the privacy model.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints

from schemas.common import STRICT

IdentifierKind = Literal["phone", "email", "id_number", "bank_card"]
IDENTIFIER_KINDS: tuple[IdentifierKind, ...] = ("phone", "email", "id_number", "bank_card")

KeyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")]
"""A consortium key's id: 1..32 letters, digits, ``.``, ``_`` or ``-``."""

HashHex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
"""An HMAC-SHA256 digest as 64 lower-case hex digits."""

DEFAULT_COUNTRY_CODE = "86"
"""Country calling code assumed for a phone number written without one (mainland China)."""

_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ID_NUMBER = re.compile(r"^[0-9A-Z]{6,32}$")
_CARD_NUMBER = re.compile(r"^[0-9]{12,19}$")


class IdentifierError(ValueError):
    """A raw identifier that cannot be normalised (not a phone number, an address...)."""


class KeyedHash(BaseModel):
    """One identifier as exchanged: its kind, the consortium key's id and the digest."""

    model_config = STRICT

    kind: IdentifierKind
    key_id: KeyId
    hash: HashHex

    @property
    def subject_key(self) -> str:
        """``<kind>:<key_id>:<hash>``: the Kafka key that routes every record about this
        identifier to one partition (``signals.subjects``)."""
        return f"{self.kind}:{self.key_id}:{self.hash}"


def normalise_identifier(
    kind: IdentifierKind, value: str, country_code: str = DEFAULT_COUNTRY_CODE
) -> str:
    """The canonical text of a raw identifier, so every platform hashes the same bytes.

    - ``phone``: E.164 (``+8613800138000``): spaces, dashes, dots and brackets removed,
      a leading ``00`` read as ``+``, a number without a country code given
      ``country_code``.
    - ``email``: trimmed and lower-cased.
    - ``id_number``: spaces removed, upper-cased (a PRC resident ID's check letter ``x``
      becomes ``X``).
    - ``bank_card``: digits only (spaces and dashes removed).

    Raises :class:`IdentifierError` when the result is not a valid identifier of its kind.
    """
    if kind == "phone":
        digits = _PHONE_SEPARATORS.sub("", value)
        if digits.startswith("00"):
            digits = "+" + digits[2:]
        elif not digits.startswith("+"):
            digits = f"+{country_code}{digits.lstrip('0')}"
        normalised = digits
        valid = bool(_E164.match(normalised))
    elif kind == "email":
        normalised = value.strip().lower()
        valid = bool(_EMAIL.match(normalised))
    elif kind == "id_number":
        normalised = re.sub(r"\s", "", value).upper()
        valid = bool(_ID_NUMBER.match(normalised))
    else:
        normalised = re.sub(r"[\s\-]", "", value)
        valid = bool(_CARD_NUMBER.match(normalised))
    if not valid:
        raise IdentifierError(f"not a valid {kind} identifier")
    return normalised


def keyed_hash(
    kind: IdentifierKind,
    value: str,
    key: bytes,
    key_id: str,
    country_code: str = DEFAULT_COUNTRY_CODE,
) -> KeyedHash:
    """``HMAC-SHA256(key, "<kind>:<normalised value>")`` under the consortium key ``key_id``.
    The kind is part of the message, so equal text of two kinds never hashes alike."""
    message = f"{kind}:{normalise_identifier(kind, value, country_code)}".encode()
    digest = hmac.new(key, message, hashlib.sha256).hexdigest()
    return KeyedHash(kind=kind, key_id=key_id, hash=digest)
