"""Decoding and encoding of the stream scorer's records without pydantic models: the same
contract, the same bytes and the same errors, at a fraction of the cost.

:func:`decode_feature_update` reads a ``features.updates`` record with msgspec against a
mirror of :class:`~schemas.features.FeatureUpdate` that accepts only the plain spelling
riskstream's feature worker writes (instants as RFC 3339 text with at most six fractional
digits, numbers as JSON numbers). Whatever that mirror does not accept goes through the
pydantic model itself, so a record the contract accepts in another spelling (a number as
text, say) is read as before, and a record it refuses raises the contract's own
:class:`pydantic.ValidationError`. :func:`score_record_json` writes a ``risk.scores`` record
byte for byte as ``ScoreRecord(...).model_dump_json()`` would.

The warning service reads ``risk.scores`` with pydantic still: its rules take the
:class:`~schemas.scores.ScoreRecord` model, and building one without validation
(``model_construct``) costs more than pydantic's own parse of the JSON (measured: 48 against
18 µs for a record with four reasons and two improvements).

:func:`model_json` writes a model (the warning service's actions, states and risk states)
byte for byte as its ``model_dump_json()`` would.

A property test (``tests/schemas/test_codecs.py``) holds them to the pydantic models.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import orjson
from pydantic import BaseModel

from schemas.events import TriggerType
from schemas.features import FeatureUpdate
from schemas.scores import Counterfactual, ReasonCode, ScoreRecord

_Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
_Instant = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})$"
    ),
]
"""An instant as ``datetime.isoformat()`` writes it (or with ``Z``); pydantic reads other
spellings too, and rounds differently past six fractional digits, so those take its path."""
_Score = Annotated[int, msgspec.Meta(ge=300, le=900)]
_Grade = Literal["S", "A", "B", "C", "D"]


class _PydanticJudgesError(Exception):
    """The mirror read the record, but pydantic must judge it (an impossible instant)."""


def _instant(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError as error:
        raise _PydanticJudgesError from error


class FeatureUpdateRecord(msgspec.Struct, frozen=True):
    """A ``features.updates`` record as :func:`decode_feature_update` reads it: the fields
    of :class:`~schemas.features.FeatureUpdate`, with the values pydantic gives them."""

    customer_id: str
    feature_schema_version: int
    as_of: datetime
    features: dict[str, float | None]
    triggered_by: str
    trigger_event_type: str
    event_occurred_at: datetime
    locale: str | None = None


class _FeatureUpdateWire(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    customer_id: _Identifier
    feature_schema_version: int
    as_of: _Instant
    features: dict[str, float | None]
    triggered_by: str
    trigger_event_type: TriggerType
    event_occurred_at: _Instant
    locale: str | None = None


_FEATURE_UPDATE = msgspec.json.Decoder(_FeatureUpdateWire)
_UPDATE_FIELDS = tuple(FeatureUpdate.model_fields)
if FeatureUpdateRecord.__struct_fields__ != _UPDATE_FIELDS or (
    _FeatureUpdateWire.__struct_fields__ != _UPDATE_FIELDS
):
    raise TypeError("FeatureUpdateRecord no longer has the fields of FeatureUpdate")


def decode_feature_update(raw: bytes) -> FeatureUpdateRecord:
    """The record in ``raw``, as ``FeatureUpdate.model_validate_json(raw)`` reads it;
    raises the ``ValidationError`` that call raises."""
    try:
        wire = _FEATURE_UPDATE.decode(raw)
        return FeatureUpdateRecord(
            customer_id=wire.customer_id,
            feature_schema_version=wire.feature_schema_version,
            as_of=_instant(wire.as_of),
            features=wire.features,
            triggered_by=wire.triggered_by,
            trigger_event_type=wire.trigger_event_type,
            event_occurred_at=_instant(wire.event_occurred_at),
            locale=wire.locale,
        )
    except (msgspec.MsgspecError, _PydanticJudgesError):
        update = FeatureUpdate.model_validate_json(raw)
        return FeatureUpdateRecord(**{name: getattr(update, name) for name in _UPDATE_FIELDS})


_SCORE_FIELDS = tuple(ScoreRecord.model_fields)


def score_record_json(
    *,
    reasons: Sequence[ReasonCode],
    improvements: Sequence[Counterfactual],
    **fields: Any,
) -> bytes:
    """``ScoreRecord(**fields, reasons=..., improvements=...).model_dump_json()`` as bytes,
    for values that already meet the contract (computed by the scorer, not read from
    outside): nothing is validated again. Every field of :class:`ScoreRecord` must be
    given (KeyError names a missing one)."""
    values: dict[str, Any] = {**fields, "reasons": reasons, "improvements": improvements}
    unknown = set(values) - set(_SCORE_FIELDS)
    if unknown:
        raise TypeError(f"not fields of ScoreRecord: {sorted(unknown)}")
    return orjson.dumps({name: values[name] for name in _SCORE_FIELDS}, default=_fields_of)


def _fields_of(value: object) -> dict[str, Any]:
    """orjson's hook for the reasons and counterfactuals (flat pydantic models, nested
    ones through the hook again): their field values as they stand, in field order, which
    is what ``model_dump`` gives for models without extras, aliases or serializers,
    without building a dict per model in Python first."""
    if isinstance(value, BaseModel):
        return value.__dict__
    raise TypeError(f"{type(value).__name__} is not a contract model")


def model_json(model: BaseModel) -> bytes:
    """``model.model_dump_json().encode()``, for a model whose fields are plain values,
    models and :data:`~schemas.common.Timestamp` instants with an RFC 3339 offset (whole
    minutes), and no :data:`~schemas.common.Amount` (orjson refuses its Decimal with a
    TypeError).

    pydantic's JSON calls back into Python for every instant (``Timestamp``'s serialiser);
    orjson writes an aware datetime in the same ``isoformat()`` text, so the Python dump
    written by orjson is the same bytes at half the cost."""
    return orjson.dumps(model.model_dump())
