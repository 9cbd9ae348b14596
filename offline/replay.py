"""Replaying event logs through the feature core, for training, backfill and backtests, with
exactly the code the streaming worker runs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

import orjson
from pydantic import ValidationError

from offline.errors import EventLogError
from schemas.events import InboundEvent, parse_trusted_event
from services.features.core import ApplyOutcome, CustomerState, apply_event, compute_features

_PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
_PARQUET_BATCH_ROWS = 8_192


class FeatureReplay:
    """Customer states built from events in memory. The processing clock of each event is
    its own ``occurred_at``, so a log replayed in time order gives, at every instant, the
    features the streaming worker would have served then."""

    def __init__(self) -> None:
        self._states: dict[str, CustomerState] = {}

    def apply(self, event: InboundEvent) -> ApplyOutcome:
        """Applies one event to its customer's state (see ``apply_event``)."""
        state = self._states.get(event.customer_id)
        if state is None:
            state = self._states[event.customer_id] = CustomerState.new(event.customer_id)
        return apply_event(state, event, event.occurred_at)

    def features(self, customer_id: str, as_of: datetime) -> dict[str, float | None]:
        """The customer's features as of ``as_of`` (a customer never seen reads as new).
        Raises ``AsOfOutOfRangeError`` if events more than 24h after ``as_of`` were
        already applied to the customer."""
        state = self._states.get(customer_id) or CustomerState.new(customer_id)
        return compute_features(state, as_of)

    def states(self) -> Mapping[str, CustomerState]:
        """A read-only view of every customer's state, by customer id."""
        return MappingProxyType(self._states)


def replay_point_in_time(
    events: Iterable[InboundEvent], observations: Iterable[tuple[str, datetime]]
) -> list[tuple[str, datetime, dict[str, float | None]]]:
    """Features of each (customer_id, instant) observation, computed only from events with
    ``occurred_at <= instant``: no later event can leak into a training row.

    Events are sorted by ``occurred_at`` (stable, so ties keep their input order) and
    replayed once; observations are answered in time order and returned in input order.
    """
    ordered_events = sorted(events, key=lambda event: event.occurred_at)
    pending = sorted(enumerate(observations), key=lambda item: item[1][1])
    results: list[tuple[str, datetime, dict[str, float | None]]] = [
        ("", datetime.min, {}) for _ in pending
    ]
    replay = FeatureReplay()
    next_event = 0
    for position, (customer_id, instant) in pending:
        while (
            next_event < len(ordered_events) and ordered_events[next_event].occurred_at <= instant
        ):
            replay.apply(ordered_events[next_event])
            next_event += 1
        results[position] = (customer_id, instant, replay.features(customer_id, instant))
    return results


def read_event_log(path: Path) -> Iterator[InboundEvent]:
    """Yields the events of a log file: Parquet for a ``.parquet``/``.pq`` suffix (a column
    per event field, null where a field does not apply), JSON Lines otherwise (one event
    per line; blank lines are skipped).

    Events are parsed with ``parse_trusted_event``, so old logs are not judged against
    today's clock. A record that does not parse raises :class:`EventLogError` naming the
    file, the line (or row) number, the field and the reason.
    """
    if path.suffix.lower() in _PARQUET_SUFFIXES:
        yield from _read_parquet(path)
    else:
        yield from _read_jsonl(path)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{location or 'record'}: {first['msg']}{more}"


def _read_jsonl(path: Path) -> Iterator[InboundEvent]:
    with path.open("rb") as log:
        for line_number, line in enumerate(log, start=1):
            if not line.strip():
                continue
            try:
                event = parse_trusted_event(line)
            except ValidationError as error:
                raise EventLogError(f"{path}:{line_number}: {_describe(error)}") from None
            yield event


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _read_parquet(path: Path) -> Iterator[InboundEvent]:
    import pyarrow.parquet as pq  # imported here: only Parquet logs need pyarrow

    row_number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=_PARQUET_BATCH_ROWS):
        for row in batch.to_pylist():
            row_number += 1
            record = {name: value for name, value in row.items() if value is not None}
            try:
                event = parse_trusted_event(orjson.dumps(record, default=_json_default))
            except (ValidationError, TypeError) as error:
                reason = _describe(error) if isinstance(error, ValidationError) else str(error)
                raise EventLogError(f"{path}: row {row_number}: {reason}") from None
            yield event
