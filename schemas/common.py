"""Field types shared by the wire models."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field, PlainSerializer, StringConstraints

Grade = Literal["S", "A", "B", "C", "D"]
"""Credit grades, best first (DOMAIN.md)."""
GRADES: tuple[Grade, ...] = ("S", "A", "B", "C", "D")

STRICT = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)
"""Inbound records: unknown fields are rejected and parsed records are immutable."""

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=64)]
"""An opaque id (event, customer, order, ...): 1..64 characters."""

LanguageTag = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8}){0,3}$", max_length=35)
]
"""A BCP 47 language tag such as ``zh-CN`` or ``en`` (``_`` is accepted for ``-``)."""

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""An ISO 4217 code, three capital letters."""

Amount = Annotated[
    Decimal,
    # 15 significant digits: a JSON number (binary double) keeps exactly that many.
    Field(ge=0, max_digits=15, decimal_places=4, allow_inf_nan=False),
    PlainSerializer(lambda value: float(value), return_type=float, when_used="json"),
]
"""A non-negative money amount, exact in memory, a JSON number on the wire."""

MAX_AMOUNT = 99_999_999_999.9999
"""The largest :data:`Amount` (11 digits before the point, 4 after): the bound of every
money figure a caller may send, so notices and reports can always format it."""

Timestamp = Annotated[
    AwareDatetime,
    PlainSerializer(lambda value: value.isoformat(), return_type=str, when_used="json"),
]
"""An RFC 3339 instant with an explicit offset; naive timestamps are rejected."""


def utc_iso(value: datetime) -> str:
    """Renders an aware instant as RFC 3339 text."""
    return value.isoformat()


def field_errors(
    errors: Iterable[Mapping[str, Any]], skip: int = 0, union_tags: frozenset[str] = frozenset()
) -> list[dict[str, str]]:
    """``[{"field": "events.3.amount", "reason": "..."}]`` from pydantic error details.

    ``skip`` drops leading location parts that name the transport (``body``); a location
    part in ``union_tags`` (the member a discriminator picked, e.g. ``order``) is dropped
    too, so the field reads as the client sent it.
    """
    result: list[dict[str, str]] = []
    for item in errors:
        location = [str(part) for part in item.get("loc", ())][skip:]
        if item.get("type") in ("union_tag_invalid", "union_tag_not_found"):
            # The discriminator itself is what is wrong (or missing): name it.
            location.append(str(item.get("ctx", {}).get("discriminator", "")).strip("'"))
        elif location and location[0] in union_tags:
            location = location[1:]
        result.append({"field": ".".join(location) or "body", "reason": str(item.get("msg", ""))})
    return result
