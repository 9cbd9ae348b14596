"""The feature vector the worker precomputes beside a customer's state, and the span of
instants over which it is exact (docs/features.md, "Precomputed vectors").

Between two instants at which something of the state enters or leaves a window (see
:func:`~services.features.core.compute.next_change_us`) every feature keeps its value,
except the day counters (days since registration, the first event, the last order, the
bureau report), which grow with the instant read from a fixed instant. The vector keeps
those instants, not the counts, so :meth:`FeatureVector.features_at` gives exactly what
:func:`~services.features.core.compute.compute_features` gives at any instant of the span.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from schemas.features import FEATURE_SCHEMA
from services.features.core.compute import (
    DayCounters,
    days_since,
    features_with_counters,
    next_change_us,
)
from services.features.core.errors import StateFormatError
from services.features.core.state import CustomerState

VECTOR_FORMAT_VERSION = 1
"""Layout version of :meth:`FeatureVector.to_bytes`; a reader skips (computes from the
state instead of) a vector of another layout."""


@dataclass(frozen=True, slots=True)
class FeatureVector:
    """A customer's features at ``as_of_us``, exact for every instant from ``as_of_us``
    up to ``valid_until_us`` (exclusive), with what the score API checks besides the
    features: the state's processing clock and whether it has a first business event.
    ``values`` are in the order of ``FEATURE_SCHEMA`` version ``schema_version``."""

    schema_version: int
    as_of_us: int
    valid_until_us: int
    clock_us: int
    first_event_us: int | None
    values: tuple[float | None, ...]
    counters: DayCounters

    def covers(self, at_us: int) -> bool:
        """True when :meth:`features_at` is exact at ``at_us`` for the current schema."""
        return (
            self.schema_version == FEATURE_SCHEMA.version
            and len(self.values) == len(FEATURE_SCHEMA.names)
            and self.as_of_us <= at_us < self.valid_until_us
        )

    def features_at(self, at_us: int) -> dict[str, float | None]:
        """The features at ``at_us``, which :meth:`covers` must accept: equal to
        ``compute_features(state, from_us(at_us))`` for the state the vector was made of."""
        features = dict(zip(FEATURE_SCHEMA.names, self.values, strict=True))
        for name, since_us in self.counters.items():
            features[name] = days_since(since_us, at_us)
        return features

    def to_bytes(self) -> bytes:
        """One compact JSON array (orjson, whose floats read back bit for bit)."""
        return orjson.dumps(
            [
                VECTOR_FORMAT_VERSION,
                self.schema_version,
                self.as_of_us,
                self.valid_until_us,
                self.clock_us,
                self.first_event_us,
                self.values,
                self.counters,
            ]
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> FeatureVector | None:
        """Reads :meth:`to_bytes` output; None for another layout version (or an empty
        value, written where no vector applies); :class:`StateFormatError` if corrupt."""
        if not data:
            return None
        try:
            document: list[Any] = orjson.loads(data)
            if document[0] != VECTOR_FORMAT_VERSION:
                return None
            _, schema, as_of, until, clock, first, values, counters = document
            instants = (schema, as_of, until, clock, *counters.values())
            if not all(type(value) is int for value in instants) or (
                first is not None and type(first) is not int
            ):
                raise TypeError("versions and instants are integers")
            if not all(value is None or type(value) is float for value in values):
                raise TypeError("feature values are floats or null")
            return cls(schema, as_of, until, clock, first, tuple(values), counters)
        except (
            orjson.JSONDecodeError,
            TypeError,
            ValueError,
            IndexError,
            KeyError,
            AttributeError,
        ) as error:
            raise StateFormatError(f"stored feature vector is malformed: {error!r}") from None


def feature_vector(state: CustomerState, as_of_us: int) -> FeatureVector | None:
    """The state's vector at ``as_of_us`` and how long it stays exact; None for a state
    without a processing clock (the score API gives such a customer the thin-file answer
    from the state). Raises ``AsOfOutOfRangeError`` as ``compute_features`` does."""
    if state.clock_us is None:
        return None
    features, counters = features_with_counters(state, as_of_us)
    return vector_of(state, as_of_us, features, counters)


def vector_of(
    state: CustomerState,
    as_of_us: int,
    features: Mapping[str, float | None],
    counters: DayCounters,
) -> FeatureVector | None:
    """:func:`feature_vector` from what ``features_with_counters(state, as_of_us)`` gave,
    so a caller that already computed the features (the worker, for the update it
    publishes) does not compute them twice."""
    if state.clock_us is None:
        return None
    return FeatureVector(
        schema_version=FEATURE_SCHEMA.version,
        as_of_us=as_of_us,
        valid_until_us=next_change_us(state, as_of_us),
        clock_us=state.clock_us,
        first_event_us=state.first_event_us,
        values=tuple(features[name] for name in FEATURE_SCHEMA.names),
        counters=counters,
    )
