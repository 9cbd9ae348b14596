"""The msgspec codecs against the pydantic models they stand in for: every input is
accepted or refused alike (with the same errors), an accepted one reads as the same values,
and a written record is the same bytes."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from schemas.actions import (
    ACTION_TYPES,
    AdverseActionNotice,
    NoticeImprovement,
    NoticeReason,
    RiskAction,
)
from schemas.codecs import decode_feature_update, model_json, score_record_json
from schemas.features import FeatureUpdate
from schemas.scores import Counterfactual, FeatureChange, LeverStep, ReasonCode, ScoreRecord

PROPERTY = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
OFFSETS = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]
aware = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from(OFFSETS),
)
naive = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1))


def _long_fraction(instant: datetime) -> str:
    text = instant.replace(microsecond=0).isoformat()
    return f"{text[:19]}.{instant.microsecond:06d}789{text[19:]}"


instant_texts = st.one_of(
    aware.map(datetime.isoformat),
    aware.map(lambda instant: instant.isoformat().replace("+00:00", "Z")),
    aware.map(_long_fraction),
    aware.map(lambda instant: instant.isoformat().replace("T", " ")),
    aware.map(lambda instant: instant.isoformat()[:16] + "Z"),
    naive.map(datetime.isoformat),
    st.just("2024-02-30T00:00:00Z"),
    st.just("2024-01-01T24:00:00+00:00"),
    st.just("2024-01-01T00:00:00+25:00"),
    st.text(alphabet="0123456789-:T.Z+ ", max_size=30),
    st.integers(),
    st.none(),
)
numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**70), max_value=2**70),
)
loose_numbers = st.one_of(numbers, st.floats(), st.booleans(), st.none(), numbers.map(str))
texts = st.one_of(st.text(max_size=70), st.integers(), st.none())
identifiers = st.one_of(st.text(min_size=1, max_size=8), texts)
feature_maps = st.one_of(
    st.dictionaries(st.text(max_size=6), st.one_of(st.none(), numbers), max_size=4),
    st.dictionaries(st.text(max_size=6), loose_numbers, max_size=4),
    st.lists(st.floats()),
)


def _varied(valid: dict[str, Any], loose: dict[str, st.SearchStrategy[Any]], odds: int = 4) -> Any:
    """Records close to ``valid``: a field replaced by a ``loose`` value one time in
    ``odds + 1``, sometimes one dropped or a field the contract does not know added."""
    names = sorted(valid)
    return st.fixed_dictionaries(
        {
            "fields": st.fixed_dictionaries(
                {
                    name: st.integers(0, odds).flatmap(
                        lambda pick, name=name: loose[name] if pick == 0 else st.just(valid[name])
                    )
                    for name in names
                }
            ),
            "dropped": st.integers(0, odds).flatmap(
                lambda pick: (
                    st.sets(st.sampled_from(names), max_size=1) if pick == 0 else st.just(set())
                )
            ),
            "extra": st.integers(0, 9).map(lambda pick: pick == 0),
        }
    ).map(
        lambda parts: {
            **{k: v for k, v in parts["fields"].items() if k not in parts["dropped"]},
            **({"unexpected": 1} if parts["extra"] else {}),
        }
    )


spoils = st.integers(0, 7).flatmap(lambda pick: st.integers(1, 900) if pick == 0 else st.just(0))
"""Where to cut a record's bytes short (mostly not at all)."""


def _bytes_of(record: Any, spoil: int) -> bytes:
    raw = json.dumps(record).encode()  # NaN and Infinity as pydantic reads them
    return raw[:spoil] if 0 < spoil < len(raw) else raw


def _outcome(read: Callable[[bytes], Any], raw: bytes) -> tuple[str, Any]:
    try:
        return "read", read(raw)
    except ValidationError as error:
        return "refused", error.errors(include_url=False)


def _plain(value: Any) -> Any:
    """``value`` with types kept visible (1 is not 1.0) and NaN equal to itself."""
    if isinstance(value, BaseModel):
        value = {name: getattr(value, name) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return ("datetime", value.isoformat())
    return (type(value).__name__, repr(value))


FEATURE_UPDATE = {
    "customer_id": "cust-1",
    "feature_schema_version": 1,
    "as_of": "2026-03-01T10:00:00+00:00",
    "features": {"orders_count_1h": 1.0, "refund_rate_30d": None},
    "triggered_by": "evt-1",
    "trigger_event_type": "order",
    "event_occurred_at": "2026-03-01T09:59:58.250000+00:00",
    "locale": "de",
}
feature_updates = _varied(
    FEATURE_UPDATE,
    {
        "customer_id": identifiers,
        "feature_schema_version": loose_numbers,
        "as_of": instant_texts,
        "features": feature_maps,
        "triggered_by": texts,
        "trigger_event_type": st.sampled_from(
            ["order", "review", "refund ", "signup", "bureau_report", "shared_signal", None]
        ),
        "event_occurred_at": instant_texts,
        "locale": texts,
    },
    odds=8,
)


@PROPERTY
@given(feature_updates, spoils)
def test_a_feature_update_reads_as_pydantic_reads_it(record: Any, spoil: int) -> None:
    raw = _bytes_of(record, spoil)
    kind, read = _outcome(decode_feature_update, raw)
    expected_kind, expected = _outcome(FeatureUpdate.model_validate_json, raw)
    assert kind == expected_kind
    if kind == "read":
        read = {name: getattr(read, name) for name in FeatureUpdate.model_fields}
    assert _plain(read) == _plain(expected)


def test_the_plain_spelling_is_read_without_pydantic(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("validated by pydantic")

    monkeypatch.setattr(FeatureUpdate, "model_validate_json", refuse)
    update = decode_feature_update(json.dumps(FEATURE_UPDATE).encode())
    assert update.event_occurred_at == datetime(2026, 3, 1, 9, 59, 58, 250000, tzinfo=UTC)


feature_values = st.none() | st.floats(allow_nan=False, allow_infinity=False)
finite = st.floats(allow_nan=False, allow_infinity=False)
reason_codes = st.builds(
    ReasonCode,
    code=st.text(max_size=8),
    feature=st.text(max_size=8),
    value=feature_values,
    impact=finite,
    text=st.text(max_size=20),
)
found = st.builds(
    Counterfactual,
    steps=st.lists(
        st.builds(LeverStep, lever=st.text(max_size=8), amount=st.integers(1, 9)), max_size=2
    ),
    changes=st.lists(
        st.builds(
            FeatureChange,
            feature=st.text(max_size=8),
            current=feature_values,
            changed=feature_values,
        ),
        max_size=2,
    ),
    grade=st.sampled_from(["S", "A", "B", "C", "D"]),
    score=st.integers(300, 900),
    model_version=st.text(max_size=8),
)
score_fields = st.fixed_dictionaries(
    {
        "score_id": st.text(max_size=32),
        "customer_id": st.text(min_size=1, max_size=64),
        "score": st.integers(300, 900),
        "probability_of_default": st.floats(0, 1),
        "grade": st.sampled_from(["S", "A", "B", "C", "D"]),
        "risk_level": st.sampled_from(["green", "yellow", "red"]),
        "credit_limit": st.floats(min_value=0, allow_infinity=False),
        "model_version": st.text(max_size=16),
        "feature_schema_version": st.integers(1, 3),
        "features": st.dictionaries(st.text(max_size=12), feature_values | st.just(float("nan"))),
        "features_as_of": aware,
        "triggered_by": st.text(max_size=32),
        "trigger_event_type": st.sampled_from(
            ["order", "payment", "refund", "review", "registration", "shared_signal", None]
        ),
        "event_occurred_at": aware | st.none(),
        "scored_at": aware,
        "locale": st.none() | st.text(max_size=5),
    }
)


@PROPERTY
@given(score_fields, st.lists(reason_codes, max_size=3), st.lists(found, max_size=2))
def test_a_score_record_is_written_as_pydantic_writes_it(
    fields: dict[str, Any], reasons: list[ReasonCode], improvements: list[Counterfactual]
) -> None:
    written = score_record_json(reasons=reasons, improvements=improvements, **fields)
    model = ScoreRecord(**fields, reasons=reasons, improvements=improvements)
    assert written == model.model_dump_json().encode()


def test_every_field_of_a_score_record_must_be_given() -> None:
    with pytest.raises(KeyError):
        score_record_json(reasons=[], improvements=[], score_id="s-1")


notices = st.builds(
    AdverseActionNotice,
    locale=st.sampled_from(["en", "zh-CN"]),
    title=st.text(max_size=12),
    summary=st.text(max_size=12),
    reasons=st.lists(
        st.builds(NoticeReason, code=st.text(max_size=8), text=st.text(max_size=12)), max_size=2
    ),
    improvement=st.none()
    | st.builds(
        NoticeImprovement,
        text=st.text(max_size=12),
        steps=st.lists(st.builds(LeverStep, lever=st.text(max_size=8)), max_size=2),
        grade=st.none() | st.sampled_from(["S", "A", "B", "C", "D"]),
        lifts_restriction=st.booleans(),
    ),
    appeal=st.text(max_size=12),
    appeal_reference=st.text(max_size=12),
    body=st.text(max_size=40),
)
limits = st.none() | st.floats(min_value=0, allow_infinity=False)
actions = st.builds(
    RiskAction,
    action_id=st.text(max_size=36),
    customer_id=st.text(min_size=1, max_size=64),
    action=st.sampled_from(ACTION_TYPES),
    credit_limit=limits,
    severity=st.sampled_from(["green", "yellow", "red"]),
    rule_id=st.text(max_size=12),
    rule_version=st.text(max_size=12),
    reason=st.text(max_size=40),
    score=st.none() | st.integers(300, 900),
    grade=st.none() | st.sampled_from(["S", "A", "B", "C", "D"]),
    model_version=st.none() | st.text(max_size=8),
    triggered_by=st.text(max_size=32),
    issued_at=aware,
    case_id=st.none() | st.text(max_size=12),
    review_outcome=st.none() | st.sampled_from(["confirmed", "released", "escalated"]),
    decision_id=st.none() | st.text(max_size=32),
    notice=st.none() | notices,
    limit_granted=limits,
)


@PROPERTY
@given(actions)
def test_an_action_is_written_as_pydantic_writes_it(action: RiskAction) -> None:
    assert model_json(action) == action.model_dump_json().encode()


@PROPERTY
@given(score_fields, st.lists(reason_codes, max_size=3), st.lists(found, max_size=2))
def test_a_score_record_model_is_written_as_pydantic_writes_it(
    fields: dict[str, Any], reasons: list[ReasonCode], improvements: list[Counterfactual]
) -> None:
    model = ScoreRecord(**fields, reasons=reasons, improvements=improvements)
    assert model_json(model) == model.model_dump_json().encode()
