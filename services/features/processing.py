"""The feature use case for Kafka records: decode, validate, apply to the customer's state
(or to the subject table, for ``signals.subjects``), and say what to publish. Records are
processed in batches against :class:`BatchStates` and :class:`BatchSubjects` (each state
loaded once, kept in memory through the batch, written back once). The faust agent is a
thin transport over it; nothing here touches Kafka or Redis, so it is unit-tested with
plain values."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar, get_args

import orjson
from pydantic import BaseModel, ValidationError

from schemas.common import field_errors
from schemas.events import EVENT_MODELS, InboundEvent, RegistrationEvent, TriggerType, parse_event
from schemas.features import FEATURE_SCHEMA, FeatureUpdate
from schemas.identifiers import IdentifierKind
from schemas.records import DeadLetterRecord
from schemas.signals import SUBJECT_RECORD, ContactLink, MatchedSignal
from services.common.clock import Clock
from services.common.dead_letters import dead_letter
from services.common.topics import Topic
from services.features.core import (
    ApplyOutcome,
    CustomerState,
    DayCounters,
    FeatureVector,
    SubjectEntry,
    apply_event,
    apply_signal,
    features_with_counters,
    file_accepted,
    link_customer,
    to_us,
    vector_of,
)

SHARED_SIGNAL_TRIGGER: Literal["shared_signal"] = "shared_signal"
"""``trigger_event_type`` of a feature update caused by a matched signal."""
_SUBJECT_RECORD_TAGS = frozenset({"contact", "signal"})


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
class Output:
    """A record to produce besides the feature update: a customer's identifier hash for the
    subject table, or a signal matched to a customer."""

    topic: str
    key: bytes
    value: bytes

    @classmethod
    def of(cls, topic: str, key: str, record: BaseModel) -> Output:
        return cls(topic, key.encode(), record.model_dump_json(exclude_none=True).encode())


@dataclass(frozen=True, slots=True)
class Applied:
    """The record's event (or matched signal) reached the customer's state, or was a
    duplicate of one that had. The update and the outputs are published and the state
    refreshed in Redis either way, so a redelivery after a crash still refreshes Redis and
    downstream consumers; ``state`` is the batch's live state of the customer (see
    :class:`BatchStates`); ``counters`` are the day counters of the update's features."""

    event: InboundEvent | MatchedSignal
    state: CustomerState
    outcome: ApplyOutcome
    update: FeatureUpdate
    counters: DayCounters
    outputs: tuple[Output, ...] = ()

    def vector(self) -> FeatureVector | None:
        """The customer's feature vector as of the update, made from the update's
        features (not computed again). Exact only while ``state`` is still the state the
        update was computed from: call it on the customer's last result of a batch."""
        return vector_of(self.state, to_us(self.update.as_of), self.update.features, self.counters)

    @property
    def event_type(self) -> str:
        return self.update.trigger_event_type


@dataclass(frozen=True, slots=True)
class Linked:
    """A ``signals.subjects`` record filed in its subject's entry: ``outputs`` are the
    signals it matched to customers. ``record`` says which kind (``contact``, ``signal``)."""

    record: str
    outputs: tuple[Output, ...]


@dataclass(frozen=True, slots=True)
class Rejected:
    """The record cannot be processed; it goes to the dead-letter topic."""

    dead_letter: DeadLetterRecord


T = TypeVar("T")

StateLoader = Callable[[str], CustomerState | None]
"""Current state of a customer, or None for a customer never seen."""
SubjectLoader = Callable[[str], SubjectEntry | None]
"""Current entry of a subject key, or None for a subject never seen."""


class BatchCache(Generic[T]):
    """The states one batch of records touches, by key. Each is loaded once (a key never
    seen starts from ``new``) and kept in memory, so a key's later records in the batch see
    the earlier ones; :meth:`changed` names those a record changed, to be written back
    once when the batch is done."""

    def __init__(self, load: Callable[[str], T | None], new: Callable[[str], T]) -> None:
        self._load = load
        self._new = new
        self._states: dict[str, T] = {}
        self._changed: dict[str, None] = {}

    def get(self, key: str) -> T:
        state = self._states.get(key)
        if state is None:
            state = self._load(key) or self._new(key)
            self._states[key] = state
        return state

    def mark_changed(self, key: str) -> None:
        self._changed[key] = None

    @property
    def touched(self) -> Mapping[str, T]:
        """Every key a record of the batch reached, changed or a duplicate."""
        return self._states

    def changed(self) -> Iterator[str]:
        """Keys whose state a record changed, in the order first changed."""
        return iter(self._changed)


class BatchStates(BatchCache[CustomerState]):
    """The customer states of a batch (a customer never seen starts empty)."""

    def __init__(self, load_state: StateLoader) -> None:
        super().__init__(load_state, CustomerState.new)


def _new_subject(subject_key: str) -> SubjectEntry:
    kind = subject_key.partition(":")[0]
    if kind not in get_args(IdentifierKind):
        raise ValueError(f"{kind!r} is not an identifier kind")
    return SubjectEntry(kind=kind)  # type: ignore[arg-type]  # checked just above


class BatchSubjects(BatchCache[SubjectEntry]):
    """The subject entries of a batch (a subject never seen starts empty)."""

    def __init__(self, load_subject: SubjectLoader) -> None:
        super().__init__(load_subject, _new_subject)


@dataclass(frozen=True, slots=True)
class SignalTopics:
    """The (prefixed) topics of shared signals inside the platform."""

    subjects: str = Topic.SIGNAL_SUBJECTS.value
    matches: str = Topic.SIGNAL_MATCHES.value


class FeatureProcessor:
    def __init__(
        self,
        service: str,
        event_topics: dict[str, str],
        clock: Clock,
        signal_topics: SignalTopics | None = None,
    ) -> None:
        """``event_topics`` maps each event type to the topic that must carry it;
        ``signal_topics`` names the topics of identifier hashes and matched signals."""
        self._service = service
        self._event_topics = event_topics
        self._clock = clock
        self._signal_topics = signal_topics or SignalTopics()

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

    def process(
        self, record: SourceRecord, states: BatchStates, subjects: BatchSubjects | None = None
    ) -> Applied | Linked | Rejected:
        """Applies one record: an event or a matched signal to its customer's state in
        ``states``, an identifier hash or an accepted signal to its entry in ``subjects``
        (each marked changed when the record changed it); or says why it goes to the
        dead-letter topic."""
        now = self._clock.now()
        try:
            raw = orjson.loads(record.value or b"")
        except orjson.JSONDecodeError as error:
            return self._reject(record, "invalid_json", f"value is not UTF-8 JSON: {error}", now)
        if not isinstance(raw, dict):
            return self._reject(
                record, "schema_violation", "body: a record must be a JSON object", now
            )
        if record.topic == self._signal_topics.subjects:
            if subjects is None:
                raise ValueError("a signals.subjects record needs the batch's subject entries")
            return self._link(record, raw, subjects, now)
        if record.topic == self._signal_topics.matches:
            return self._match(record, raw, states, now)
        return self._event(record, raw, states, now)

    def _schema_violation(
        self, record: SourceRecord, error: ValidationError, tags: frozenset[str], now: datetime
    ) -> Rejected:
        errors = field_errors(error.errors(), union_tags=tags)
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return self._reject(record, "schema_violation", detail, now)

    def _key_mismatch(self, record: SourceRecord, expected: str, now: datetime) -> Rejected | None:
        # The key decides the partition and so which worker holds the state.
        if record.key == expected.encode():
            return None
        return self._reject(
            record, "key_mismatch", f"record key is not the record's {self._key_name(record)}", now
        )

    def _key_name(self, record: SourceRecord) -> str:
        return "subject" if record.topic == self._signal_topics.subjects else "customer_id"

    def _event(
        self, record: SourceRecord, raw: dict[str, Any], states: BatchStates, now: datetime
    ) -> Applied | Rejected:
        try:
            event = parse_event(raw, now=now)
        except ValidationError as error:
            return self._schema_violation(record, error, frozenset(EVENT_MODELS), now)
        if self._event_topics.get(event.event_type) != record.topic:
            detail = f"a {event.event_type} event does not belong on {record.topic}"
            return self._reject(record, "wrong_topic", detail, now)
        if (mismatch := self._key_mismatch(record, event.customer_id, now)) is not None:
            return mismatch
        state = states.get(event.customer_id)
        outcome = apply_event(state, event, now)
        if outcome is ApplyOutcome.APPLIED:
            states.mark_changed(event.customer_id)
        outputs: tuple[Output, ...] = ()
        if isinstance(event, RegistrationEvent):
            # Sent for a duplicate too: a link lost in a crash is made good on redelivery.
            outputs = tuple(
                Output.of(
                    self._signal_topics.subjects,
                    contact.subject_key,
                    ContactLink(customer_id=event.customer_id, subject=contact),
                )
                for contact in event.contact_hashes
            )
        update, counters = self._update(
            state, now, event.event_id, event.event_type, event.occurred_at, event.locale
        )
        return Applied(event, state, outcome, update, counters, outputs)

    def _match(
        self, record: SourceRecord, raw: dict[str, Any], states: BatchStates, now: datetime
    ) -> Applied | Rejected:
        try:
            matched = MatchedSignal.model_validate(raw)
        except ValidationError as error:
            return self._schema_violation(record, error, frozenset(), now)
        if (mismatch := self._key_mismatch(record, matched.customer_id, now)) is not None:
            return mismatch
        state = states.get(matched.customer_id)
        outcome = apply_signal(state, matched, now)
        if outcome is ApplyOutcome.APPLIED:
            states.mark_changed(matched.customer_id)
        update, counters = self._update(
            state, now, matched.match_id, SHARED_SIGNAL_TRIGGER, matched.effective_at, None
        )
        return Applied(matched, state, outcome, update, counters)

    def _link(
        self, record: SourceRecord, raw: dict[str, Any], subjects: BatchSubjects, now: datetime
    ) -> Linked | Rejected:
        try:
            filed = SUBJECT_RECORD.validate_python(raw)
        except ValidationError as error:
            return self._schema_violation(record, error, _SUBJECT_RECORD_TAGS, now)
        key = filed.subject.subject_key
        if (mismatch := self._key_mismatch(record, key, now)) is not None:
            return mismatch
        entry = subjects.get(key)
        if isinstance(filed, ContactLink):
            matches = link_customer(entry, filed)
        else:
            matches = file_accepted(entry, filed, now)
        subjects.mark_changed(key)
        topic = self._signal_topics.matches
        return Linked(
            filed.record, tuple(Output.of(topic, match.customer_id, match) for match in matches)
        )

    @staticmethod
    def _update(
        state: CustomerState,
        now: datetime,
        triggered_by: str,
        trigger: TriggerType,
        occurred_at: datetime,
        locale: str | None,
    ) -> tuple[FeatureUpdate, DayCounters]:
        features, counters = features_with_counters(state, to_us(now))
        # Every value is already validated (the event) or computed: no second validation.
        update = FeatureUpdate.model_construct(
            customer_id=state.customer_id,
            feature_schema_version=FEATURE_SCHEMA.version,
            as_of=now,
            features=features,
            triggered_by=triggered_by,
            trigger_event_type=trigger,
            event_occurred_at=occurred_at,
            locale=locale,
        )
        return update, counters


def record_age_seconds(record: SourceRecord, now: datetime) -> float | None:
    """Seconds since the record was produced (its Kafka timestamp), for the event-age metric."""
    if record.timestamp_ms is None:
        return None
    return max(0.0, now.timestamp() - record.timestamp_ms / 1000)


def stored_vectors(last_results: Mapping[str, Applied]) -> dict[str, bytes]:
    """The feature vector to store beside each customer's state, from the customer's last
    result of the batch (:meth:`Applied.vector`): empty where none applies (no processing
    clock yet), so the score API computes from the state."""
    vectors: dict[str, bytes] = {}
    for customer, result in last_results.items():
        vector = result.vector()
        vectors[customer] = vector.to_bytes() if vector is not None else b""
    return vectors
