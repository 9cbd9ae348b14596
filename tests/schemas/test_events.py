from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.events import OrderEvent, PaymentEvent, parse_event, parse_trusted_event

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def order(**overrides: object) -> dict[str, object]:
    event: dict[str, object] = {
        "event_id": "e-1",
        "event_type": "order",
        "customer_id": "c-1",
        "occurred_at": "2026-11-27T19:00:00+08:00",
        "schema_version": 1,
        "order_id": "o-1",
        "amount": "120.50",
        "currency": "CNY",
        "payment_method": "bnpl",
        "status": "placed",
        "item_count": 2,
        "channel": "app",
    }
    event.update(overrides)
    return event


def error_fields(error: ValidationError) -> set[str]:
    return {".".join(str(p) for p in item["loc"][1:]) for item in error.errors()}


def test_a_valid_order_parses_with_exact_amount_and_offset() -> None:
    event = parse_event(order(), now=NOW)
    assert isinstance(event, OrderEvent)
    assert event.amount == Decimal("120.50")
    assert event.occurred_at.utcoffset() == timedelta(hours=8)
    assert event.on_credit


def test_json_round_trip_keeps_every_field() -> None:
    event = parse_event(order(shipping_address_hash="h1"), now=NOW)
    assert parse_trusted_event(event.model_dump_json()) == event


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": -1}, "amount"),
        ({"payment_method": "cheque"}, "payment_method"),
        ({"occurred_at": "2026-11-27T10:00:00"}, "occurred_at"),
        ({"surprise": 1}, "surprise"),
        ({"currency": "cny"}, "currency"),
        ({"item_count": 0}, "item_count"),
        ({"event_id": ""}, "event_id"),
        ({"customer_id": "x" * 65}, "customer_id"),
        ({"schema_version": 2}, "schema_version"),
    ],
)
def test_a_bad_field_is_named(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_event(order(**overrides), now=NOW)
    assert field in error_fields(caught.value)


def test_a_missing_field_is_named() -> None:
    event = order()
    del event["order_id"]
    with pytest.raises(ValidationError) as caught:
        parse_event(event, now=NOW)
    assert error_fields(caught.value) == {"order_id"}


def test_events_up_to_five_minutes_ahead_are_accepted_and_beyond_rejected() -> None:
    parse_event(order(occurred_at=(NOW + timedelta(minutes=5)).isoformat()), now=NOW)
    with pytest.raises(ValidationError) as caught:
        parse_event(order(occurred_at=(NOW + timedelta(minutes=5, seconds=1)).isoformat()), now=NOW)
    assert "future" in str(caught.value)


def test_a_trusted_replay_is_not_judged_against_todays_clock() -> None:
    future = parse_event(order(), now=NOW).model_copy(
        update={"occurred_at": NOW + timedelta(days=3)}
    )
    assert parse_trusted_event(future.model_dump_json()).occurred_at == NOW + timedelta(days=3)


def test_unknown_event_type_is_reported_on_event_type() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_event(order(event_type="login"), now=NOW)
    assert caught.value.errors()[0]["type"] == "union_tag_invalid"


def test_a_repayment_carries_days_past_due() -> None:
    event = parse_event(
        {
            "event_id": "p-1",
            "event_type": "payment",
            "customer_id": "c-1",
            "occurred_at": "2026-11-27T10:00:00Z",
            "order_id": "o-1",
            "payment_id": "pay-1",
            "amount": 40,
            "currency": "CNY",
            "kind": "repayment",
            "status": "succeeded",
            "days_past_due": 3,
            "instalment_no": 2,
        },
        now=NOW,
    )
    assert isinstance(event, PaymentEvent)
    assert event.days_past_due == 3


@given(
    st.dictionaries(
        st.text(max_size=12), st.one_of(st.none(), st.integers(), st.text(max_size=20)), max_size=8
    )
)
def test_arbitrary_objects_are_either_parsed_or_rejected_with_validation_error(
    raw: dict[str, object],
) -> None:
    try:
        parse_event(raw, now=NOW)
    except ValidationError as error:
        assert error.errors()  # noqa: PT017 (either outcome is fine; nothing else may escape)
