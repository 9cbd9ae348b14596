"""Property tests of the inbound event schemas and of the feature worker's record decoding:
every valid event survives a JSON round trip unchanged, any JSON value is either an event or
a ValidationError (never another exception), and any bytes at all on an event topic, invalid
UTF-8 included, become an applied event or a dead letter carrying the original bytes."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.events import EventEnvelope, parse_event
from services.features.processing import (
    Applied,
    BatchStates,
    FeatureProcessor,
    Rejected,
    SourceRecord,
)
from tests.support.clock import SettableClock

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
EVENT_TOPICS = {
    "order": "events.orders",
    "payment": "events.payments",
    "refund": "events.refunds",
    "review": "events.reviews",
}

identifiers = st.text(min_size=1, max_size=64)
amounts = st.decimals(
    min_value=Decimal(0), max_value=Decimal("99999999999.9999"), places=4, allow_nan=False
)
"""Up to 15 significant digits, as the schema admits: amounts travel as JSON numbers (binary
doubles), which keep 15 digits exactly."""
currencies = st.from_regex(r"\A[A-Z]{3}\Z")
instants = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2026, 11, 27, 12, 4),
    # The wire carries fixed offsets (RFC 3339), never zone names: zone rules make local
    # times in daylight-saving gaps that no offset on the wire could express.
    timezones=st.sampled_from(
        [
            UTC,
            *(timezone(timedelta(minutes=m)) for m in (-720, -570, -300, -120, 60, 330, 480, 840)),
        ]
    ),
).filter(lambda at: at.utcoffset() is not None and at - NOW <= timedelta(minutes=5))


def envelope(event_type: str) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "event_id": identifiers,
        "event_type": st.just(event_type),
        "customer_id": identifiers,
        "occurred_at": instants,
        "schema_version": st.just(1),
    }


valid_events = st.one_of(
    st.fixed_dictionaries(
        {
            **envelope("order"),
            "order_id": identifiers,
            "amount": amounts,
            "currency": currencies,
            "payment_method": st.sampled_from(
                ["card", "bnpl", "instalment", "wallet", "cod", "bank_transfer"]
            ),
            "status": st.sampled_from(["placed", "cancelled", "completed"]),
            "item_count": st.integers(1, 100_000),
            "channel": st.sampled_from(["app", "web", "mini_program"]),
        },
        optional={"shipping_address_hash": st.text(min_size=1, max_size=128)},
    ),
    st.fixed_dictionaries(
        {
            **envelope("payment"),
            "order_id": identifiers,
            "payment_id": identifiers,
            "amount": amounts,
            "currency": currencies,
            "kind": st.sampled_from(["charge", "repayment", "chargeback"]),
            "status": st.sampled_from(["succeeded", "failed"]),
        },
        optional={
            "due_at": instants,
            "days_past_due": st.integers(0, 36_500),
            "instalment_no": st.integers(1, 1_000),
        },
    ),
    st.fixed_dictionaries(
        {
            **envelope("refund"),
            "order_id": identifiers,
            "refund_id": identifiers,
            "amount": amounts,
            "currency": currencies,
            "reason": st.sampled_from(
                ["not_received", "defective", "not_as_described", "changed_mind", "other"]
            ),
            "goods_returned": st.booleans(),
            "status": st.sampled_from(["requested", "approved", "rejected"]),
        }
    ),
    st.fixed_dictionaries(
        {
            **envelope("review"),
            "order_id": identifiers,
            "review_id": identifiers,
            "rating": st.integers(1, 5),
            "flagged_abusive": st.booleans(),
        }
    ),
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too: stdlib json writes them, the parser must cope
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=15), children, max_size=6)
    ),
    max_leaves=30,
)


def wire_json(fields: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            key: (
                value.isoformat()
                if isinstance(value, datetime)
                else str(value)
                if isinstance(value, Decimal)
                else value
            )
            for key, value in fields.items()
        }
    )


@settings(max_examples=300, deadline=None)
@given(valid_events)
def test_a_valid_event_round_trips_through_json_unchanged(fields: dict[str, Any]) -> None:
    event = parse_event(wire_json(fields), now=NOW)
    again = parse_event(orjson.dumps(event.model_dump(mode="json")), now=NOW)
    assert again == event
    assert event.model_dump() == {**event.model_dump(), **fields}


@settings(max_examples=300, deadline=None)
@given(valid_events, st.data())
def test_a_valid_event_with_any_field_replaced_by_any_json_parses_or_is_refused(
    fields: dict[str, Any], data: st.DataObject
) -> None:
    field = data.draw(st.sampled_from(sorted(fields)))
    damaged = {**orjson.loads(wire_json(fields)), field: data.draw(json_values)}
    try:
        parse_event(damaged, now=NOW)
    except ValidationError as error:
        assert error.errors()  # noqa: PT017 (the refusal names what is wrong)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_value_is_an_event_or_a_validation_error(value: Any) -> None:
    try:
        event = parse_event(json.dumps(value), now=NOW)
    except ValidationError as error:
        assert error.errors()  # noqa: PT017 (the refusal names what is wrong)
    else:
        assert isinstance(event, EventEnvelope)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(EVENT_TOPICS.values())),
    st.binary(max_size=300) | valid_events.map(wire_json),
    st.none() | st.binary(max_size=70),
)
def test_any_bytes_on_an_event_topic_are_applied_or_dead_lettered_with_the_original(
    topic: str, value: bytes, key: bytes | None
) -> None:
    processor = FeatureProcessor("features", EVENT_TOPICS, SettableClock(NOW))
    record = SourceRecord(topic=topic, partition=2, offset=7, key=key, value=value, timestamp_ms=0)
    result = processor.process(record, BatchStates(lambda _: None))
    if isinstance(result, Rejected):
        letter = result.dead_letter
        assert base64.b64decode(letter.value_b64) == value
        assert (letter.source_topic, letter.partition, letter.offset) == (topic, 2, 7)
        assert letter.reason in {"invalid_json", "schema_violation", "wrong_topic", "key_mismatch"}
    else:
        assert isinstance(result, Applied)
        assert key == result.event.customer_id.encode()
        assert EVENT_TOPICS[result.event.event_type] == topic
