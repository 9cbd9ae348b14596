"""The feature use case for Kafka records: decode, validate, apply to the customer's state,
and say what to publish. Records are processed in batches against :class:`BatchStates`
(each customer's state loaded once, kept in memory through the batch, written back once).
The faust agent is a thin transport over it; nothing here touches Kafka or Redis, so it
is unit-tested with plain values."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

import orjson
from pydantic import ValidationError

from schemas.common import field_errors
from schemas.events import EVENT_MODELS, InboundEvent, parse_event
from schemas.features import FEATURE_SCHEMA, FeatureUpdate
from schemas.records import DeadLetterRecord
from services.common.clock import Clock
from services.common.dead_letters import dead_letter
from services.features.core import ApplyOutcome, CustomerState, apply_event, compute_features


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A record as read from an event topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Applied:
    """The record's event reached the customer's state (or was a duplicate of one that
    had). The update is published and the state refreshed in Redis either way, so a
    redelivery after a crash still refreshes Redis and downstream consumers; ``state`` is
    the batch's live state of the customer (see :class:`BatchStates`)."""

    event: InboundEvent
    state: CustomerState
    outcome: ApplyOutcome
    update: FeatureUpdate


@dataclass(frozen=True, slots=True)
class Rejected:
    """The record cannot be processed; it goes to the dead-letter topic."""

    dead_letter: DeadLetterRecord


StateLoader = Callable[[str], CustomerState | None]
"""Current state of a customer, or None for a customer never seen."""


class BatchStates:
    """The states of the customers one batch of records touches. Each is loaded once (a
    customer never seen starts empty) and kept in memory, so a customer's later records in
    the batch see the earlier ones; :meth:`changed` names those an event changed, to be
    written back once when the batch is done."""

    def __init__(self, load_state: StateLoader) -> None:
        self._load_state = load_state
        self._states: dict[str, CustomerState] = {}
        self._changed: dict[str, None] = {}

    def get(self, customer_id: str) -> CustomerState:
        state = self._states.get(customer_id)
        if state is None:
            state = self._load_state(customer_id) or CustomerState.new(customer_id)
            self._states[customer_id] = state
        return state

    def mark_changed(self, customer_id: str) -> None:
        self._changed[customer_id] = None

    @property
    def touched(self) -> Mapping[str, CustomerState]:
        """Every customer a record of the batch reached, changed or a duplicate."""
        return self._states

    def changed(self) -> Iterator[str]:
        """Customers whose state an event changed, in the order first changed."""
        return iter(self._changed)


class FeatureProcessor:
    def __init__(self, service: str, event_topics: dict[str, str], clock: Clock) -> None:
        """``event_topics`` maps each event type to the topic that must carry it."""
        self._service = service
        self._event_topics = event_topics
        self._clock = clock

    def _reject(self, record: SourceRecord, reason: str, detail: str, now: datetime) -> Rejected:
        return Rejected(
            dead_letter(
                record,
                service=self._service,
                reason=reason,
                detail=detail,
                now=now,
            )
        )

    def process(self, record: SourceRecord, states: BatchStates) -> Applied | Rejected:
        """Applies one record to its customer's state in ``states`` (marked changed when
        the event changed it), or says why it goes to the dead-letter topic."""
        now = self._clock.now()
        try:
            raw = orjson.loads(record.value or b"")
        except orjson.JSONDecodeError as error:
            return self._reject(record, "invalid_json", f"value is not UTF-8 JSON: {error}", now)
        try:
            event = parse_event(raw, now=now) if isinstance(raw, dict) else None
        except ValidationError as error:
            errors = field_errors(error.errors(), union_tags=frozenset(EVENT_MODELS))
            detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
            return self._reject(record, "schema_violation", detail, now)
        if event is None:
            return self._reject(
                record, "schema_violation", "body: an event must be a JSON object", now
            )
        if self._event_topics.get(event.event_type) != record.topic:
            detail = f"a {event.event_type} event does not belong on {record.topic}"
            return self._reject(record, "wrong_topic", detail, now)
        if record.key != event.customer_id.encode():
            # The key decides the partition and so which worker holds the state.
            return self._reject(
                record, "key_mismatch", "record key is not the event's customer_id", now
            )
        state = states.get(event.customer_id)
        outcome = apply_event(state, event, now)
        if outcome is ApplyOutcome.APPLIED:
            states.mark_changed(event.customer_id)
        # Every value is already validated (the event) or computed: no second validation.
        update = FeatureUpdate.model_construct(
            customer_id=event.customer_id,
            feature_schema_version=FEATURE_SCHEMA.version,
            as_of=now,
            features=compute_features(state, now),
            triggered_by=event.event_id,
            trigger_event_type=event.event_type,
            event_occurred_at=event.occurred_at,
            locale=event.locale,
        )
        return Applied(event, state, outcome, update)


def record_age_seconds(record: SourceRecord, now: datetime) -> float | None:
    """Seconds since the record was produced (its Kafka timestamp), for the event-age metric."""
    if record.timestamp_ms is None:
        return None
    return max(0.0, now.timestamp() - record.timestamp_ms / 1000)
