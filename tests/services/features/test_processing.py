import base64
import dataclasses
from datetime import UTC, datetime, timedelta

import orjson

from schemas.identifiers import keyed_hash
from schemas.signals import AcceptedSignal, ContactLink, MatchedSignal, SignalPublication
from services.features.core import (
    ApplyOutcome,
    CustomerState,
    FeatureVector,
    SubjectEntry,
    compute_features,
    feature_vector,
    from_us,
    to_us,
)
from services.features.processing import (
    Applied,
    BatchStates,
    BatchSubjects,
    FeatureProcessor,
    Linked,
    Rejected,
    SourceRecord,
    record_age_seconds,
    stored_vectors,
)
from tests.support.clock import SettableClock

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
TOPICS = {
    "order": "events.orders",
    "payment": "events.payments",
    "refund": "events.refunds",
    "review": "events.reviews",
    "registration": "events.profile",
    "verification": "events.profile",
    "bureau_report": "events.profile",
}


def order_bytes(event_id: str = "e-1", customer_id: str = "c-1") -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "event_type": "order",
            "customer_id": customer_id,
            "occurred_at": "2026-11-27T11:30:00Z",
            "order_id": f"o-{event_id}",
            "amount": 100,
            "currency": "CNY",
            "payment_method": "bnpl",
            "status": "placed",
            "item_count": 1,
            "channel": "app",
        }
    )


def record(
    value: bytes | None, topic: str = "events.orders", key: bytes | None = b"c-1", offset: int = 7
) -> SourceRecord:
    return SourceRecord(
        topic, 2, offset, key, value, timestamp_ms=int(NOW.timestamp() * 1000) - 1500
    )


def processor() -> FeatureProcessor:
    return FeatureProcessor("features", TOPICS, SettableClock(NOW))


def no_state(_: str) -> CustomerState | None:
    return None


def test_an_event_updates_the_customer_and_yields_its_features_now() -> None:
    states = BatchStates(no_state)
    result = processor().process(record(order_bytes()), states)
    assert isinstance(result, Applied)
    assert result.outcome is ApplyOutcome.APPLIED
    assert list(states.changed()) == ["c-1"]
    assert result.update.as_of == NOW
    assert result.update.features["orders_count_1h"] == 1.0
    assert result.update.features["credit_outstanding"] == 100.0
    assert result.update.triggered_by == "e-1"


def test_each_customer_gets_the_vector_of_its_last_update_in_the_batch() -> None:
    clock = SettableClock(NOW)
    feature_processor = FeatureProcessor("features", TOPICS, clock)
    states = BatchStates(no_state)
    first = feature_processor.process(record(order_bytes()), states)
    clock.advance(seconds=3)
    last = feature_processor.process(record(order_bytes("e-2"), offset=8), states)
    assert isinstance(first, Applied)
    assert isinstance(last, Applied)
    vectors = stored_vectors({"c-1": last})
    vector = FeatureVector.from_bytes(vectors["c-1"])
    assert vector is not None
    state = states.touched["c-1"]
    # The same vector as one made from the final state, without computing the features again.
    assert vector == feature_vector(state, to_us(NOW + timedelta(seconds=3)))
    for read_us in (vector.as_of_us, vector.valid_until_us - 1):
        assert vector.features_at(read_us) == compute_features(state, from_us(read_us))


def test_a_customer_without_a_processing_clock_gets_an_empty_vector() -> None:
    applied = processor().process(record(order_bytes()), BatchStates(no_state))
    assert isinstance(applied, Applied)
    unclocked = dataclasses.replace(applied, state=CustomerState.new("c-1"))
    assert stored_vectors({"c-1": unclocked}) == {"c-1": b""}


def test_a_redelivered_event_changes_nothing_but_is_still_published() -> None:
    first = processor().process(record(order_bytes()), BatchStates(no_state))
    assert isinstance(first, Applied)
    stored = first.state.to_bytes()
    states = BatchStates(lambda _: CustomerState.from_bytes(stored))
    again = processor().process(record(order_bytes()), states)
    assert isinstance(again, Applied)
    assert again.outcome is ApplyOutcome.DUPLICATE
    assert again.update.features == first.update.features
    assert list(states.changed()) == []
    assert set(states.touched) == {"c-1"}


def test_within_a_batch_a_customer_is_loaded_once_and_sees_its_earlier_records() -> None:
    loads: list[str] = []

    def load(customer_id: str) -> CustomerState | None:
        loads.append(customer_id)
        return None

    states = BatchStates(load)
    first = processor().process(record(order_bytes("e-1")), states)
    second = processor().process(record(order_bytes("e-2"), offset=8), states)
    other = processor().process(record(order_bytes("e-3", "c-2"), key=b"c-2", offset=9), states)
    assert isinstance(first, Applied)
    assert isinstance(second, Applied)
    assert isinstance(other, Applied)
    assert loads == ["c-1", "c-2"]
    assert second.update.features["orders_count_1h"] == 2.0
    assert states.touched["c-1"] is second.state
    assert list(states.changed()) == ["c-1", "c-2"]


def test_bytes_that_are_not_json_go_to_the_dead_letter_topic_with_their_origin() -> None:
    result = processor().process(record(b"\xff\xfe"), BatchStates(no_state))
    assert isinstance(result, Rejected)
    letter = result.dead_letter
    assert (letter.reason, letter.source_topic, letter.partition, letter.offset) == (
        "invalid_json",
        "events.orders",
        2,
        7,
    )
    assert base64.b64decode(letter.value_b64) == b"\xff\xfe"


def test_a_schema_violation_names_the_field() -> None:
    bad = orjson.loads(order_bytes())
    bad["amount"] = -5
    result = processor().process(record(orjson.dumps(bad)), BatchStates(no_state))
    assert isinstance(result, Rejected)
    assert result.dead_letter.reason == "schema_violation"
    assert "amount" in result.dead_letter.detail


def test_a_json_value_that_is_not_an_object_is_rejected() -> None:
    result = processor().process(record(b"[1, 2]"), BatchStates(no_state))
    assert isinstance(result, Rejected)
    assert result.dead_letter.reason == "schema_violation"


def test_an_event_on_another_types_topic_is_rejected() -> None:
    result = processor().process(
        record(order_bytes(), topic="events.reviews"), BatchStates(no_state)
    )
    assert isinstance(result, Rejected)
    assert result.dead_letter.reason == "wrong_topic"


def test_a_record_keyed_by_another_customer_is_rejected() -> None:
    result = processor().process(record(order_bytes(), key=b"c-2"), BatchStates(no_state))
    assert isinstance(result, Rejected)
    assert result.dead_letter.reason == "key_mismatch"


def test_record_age_comes_from_the_kafka_timestamp() -> None:
    assert record_age_seconds(record(b""), NOW) == 1.5
    assert record_age_seconds(SourceRecord("t", 0, 0, None, None, None), NOW) is None


PHONE = keyed_hash("phone", "+8613800138000", b"consortium", "k1")


def no_subject(_: str) -> SubjectEntry | None:
    return None


def registration_bytes(event_id: str = "reg-1") -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "event_type": "registration",
            "customer_id": "c-1",
            "occurred_at": "2026-11-27T11:00:00Z",
            "channel": "app",
            "contact_hashes": [PHONE.model_dump()],
        }
    )


def accepted_signal_bytes() -> bytes:
    signal = SignalPublication(
        action="publish",
        signal_id="s-1",
        issuer="okpay",
        signal_type="confirmed_fraud",
        severity="high",
        observed_on=NOW.date(),
        issued_at=NOW,
        subjects=[PHONE],
        legal_basis="legal_obligation",
    )
    return AcceptedSignal(subject=PHONE, signal=signal, effective_at=NOW).model_dump_json().encode()


def test_a_registration_files_its_hashes_on_the_subject_topic_even_when_repeated() -> None:
    states = BatchStates(no_state)
    first = processor().process(record(registration_bytes(), topic="events.profile"), states)
    again = processor().process(record(registration_bytes(), topic="events.profile"), states)
    assert isinstance(first, Applied)
    assert isinstance(again, Applied)
    assert again.outcome is ApplyOutcome.DUPLICATE
    for result in (first, again):
        (output,) = result.outputs
        assert (output.topic, output.key) == ("signals.subjects", PHONE.subject_key.encode())
        link = ContactLink.model_validate_json(output.value)
        assert (link.customer_id, link.subject) == ("c-1", PHONE)
    assert first.update.trigger_event_type == "registration"
    assert first.update.features["days_since_registration"] is not None


def test_a_subject_record_matches_the_signal_to_the_customers_holding_the_hash() -> None:
    subjects = BatchSubjects(no_subject)
    link = ContactLink(customer_id="c-1", subject=PHONE).model_dump_json().encode()
    key = PHONE.subject_key.encode()
    linked = processor().process(
        record(link, topic="signals.subjects", key=key), BatchStates(no_state), subjects
    )
    assert isinstance(linked, Linked)
    assert linked.outputs == ()

    matched = processor().process(
        record(accepted_signal_bytes(), topic="signals.subjects", key=key),
        BatchStates(no_state),
        subjects,
    )

    assert isinstance(matched, Linked)
    assert matched.record == "signal"
    (output,) = matched.outputs
    assert (output.topic, output.key) == ("signals.matched", b"c-1")
    assert list(subjects.changed()) == [PHONE.subject_key]
    match = MatchedSignal.model_validate_json(output.value)

    states = BatchStates(no_state)
    applied = processor().process(record(output.value, topic="signals.matched"), states)
    assert isinstance(applied, Applied)
    assert applied.update.trigger_event_type == "shared_signal"
    assert applied.update.triggered_by == match.match_id
    assert applied.update.features["shared_signals_confirmed_fraud"] == 1.0
    assert list(states.changed()) == ["c-1"]


def test_a_subject_record_under_another_key_or_malformed_is_dead_lettered() -> None:
    link = ContactLink(customer_id="c-1", subject=PHONE).model_dump_json().encode()
    wrong_key = processor().process(
        record(link, topic="signals.subjects", key=b"phone:k1:other"),
        BatchStates(no_state),
        BatchSubjects(no_subject),
    )
    assert isinstance(wrong_key, Rejected)
    assert wrong_key.dead_letter.reason == "key_mismatch"
    malformed = processor().process(
        record(b'{"record": "contact"}', topic="signals.subjects"),
        BatchStates(no_state),
        BatchSubjects(no_subject),
    )
    assert isinstance(malformed, Rejected)
    assert malformed.dead_letter.reason == "schema_violation"
    assert "customer_id" in malformed.dead_letter.detail
