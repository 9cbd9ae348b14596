"""Property: the vector the worker stores beside a state gives, at every instant before its
valid-until instant, exactly the features computed from the state at that instant."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import VERIFICATION_KINDS
from schemas.features import FEATURE_SCHEMA
from schemas.signals import SIGNAL_TYPES
from services.features.core import (
    AsOfOutOfRangeError,
    CustomerState,
    FeatureVector,
    StateFormatError,
    compute_features,
    feature_vector,
    from_us,
    to_us,
)
from services.features.core.state import BureauReport, Profile, SignalRecord
from services.features.core.timeline import READ_LAG_LIMIT_US, US_PER_DAY, US_PER_HOUR
from tests.services.features.core import test_features_properties as properties

START_US = to_us(properties.START)
SPAN_US = properties.SPAN_SECONDS * 1_000_000


def around(clock_us: int) -> st.SearchStrategy[int]:
    """Instants of onboarding facts and signals: mostly before the clock, some after, some
    within hours of it (where they decide the vector's span most often)."""
    return st.integers(clock_us - 40 * US_PER_DAY, clock_us + 3 * US_PER_DAY) | st.integers(
        clock_us - 2 * US_PER_HOUR, clock_us + 6 * US_PER_HOUR
    )


@st.composite
def profiles(draw: st.DrawFn, instants_us: st.SearchStrategy[int]) -> Profile:
    results = {
        kind: sorted(draw(st.lists(st.tuples(instants_us, st.booleans()), max_size=3)))
        for kind in draw(st.sets(st.integers(0, len(VERIFICATION_KINDS) - 1)))
    }
    reports = [
        BureauReport(at, fetched, draw(st.floats(0, 1)), draw(st.integers(0, 5)), 1)
        for at, fetched in draw(st.lists(st.tuples(instants_us, instants_us), max_size=3))
    ]
    return Profile(
        registered_us=draw(st.none() | instants_us),
        results=results,
        failures=sorted(draw(st.lists(instants_us, max_size=4))),
        reports=sorted(reports, key=lambda report: report.fetched_us),
    )


def signal_records(instants_us: st.SearchStrategy[int]) -> st.SearchStrategy[SignalRecord]:
    return st.builds(
        SignalRecord,
        signal_type=st.integers(0, len(SIGNAL_TYPES) - 1),
        severity=st.integers(0, 2),
        effective_us=instants_us,
        expires_us=st.none() | instants_us,
        retracted_us=st.none() | instants_us,
    )


@st.composite
def states(draw: st.DrawFn) -> CustomerState:
    """A replayed history, read back from bytes or not, with onboarding facts and signals;
    or only onboarding facts and signals, whose instants then decide alone."""
    if draw(st.booleans()):
        state = properties.replayed(draw(properties.histories()), draw(st.integers(0, 5)))
    else:
        state = CustomerState.new("c1")
        state.clock_us = draw(st.integers(START_US, START_US + SPAN_US))
    assert state.clock_us is not None
    instants_us = around(state.clock_us)
    if draw(st.booleans()):
        state.profile = draw(profiles(instants_us))
    for number, record in enumerate(draw(st.lists(signal_records(instants_us), max_size=4))):
        state.signals["issuer", f"s{number}"] = record
    return CustomerState.from_bytes(state.to_bytes()) if draw(st.booleans()) else state


@settings(max_examples=200, deadline=None)
@given(state=states(), data=st.data())
def test_the_stored_vector_equals_the_features_computed_until_it_expires(state, data):
    assert state.clock_us is not None
    # The worker makes the vector at its processing time; read instants follow it.
    as_of_us = data.draw(
        st.integers(state.clock_us - READ_LAG_LIMIT_US, state.clock_us + 2 * US_PER_DAY)
        | st.integers(state.clock_us, state.clock_us + 120 * US_PER_DAY)
        | st.sampled_from([state.clock_us, state.clock_us + US_PER_HOUR])
    )
    made = feature_vector(state, as_of_us)
    assert made is not None
    vector = FeatureVector.from_bytes(made.to_bytes())
    assert vector == made
    assert vector.valid_until_us > as_of_us
    span = vector.valid_until_us - as_of_us
    reads = {as_of_us, vector.valid_until_us - 1}
    for offset in data.draw(st.lists(st.integers(0, span - 1), max_size=6)):
        reads.add(as_of_us + offset)
    for read_us in sorted(reads):
        assert vector.covers(read_us)
        assert vector.features_at(read_us) == compute_features(state, from_us(read_us))


def test_a_vector_expires_when_an_order_leaves_the_24h_window(events, build_state):
    state = build_state(events.order(events.at(hours=-2), "o1", amount="100"))
    vector = feature_vector(state, to_us(events.anchor))
    assert vector is not None
    leaves_us = to_us(events.at(hours=22))
    assert vector.valid_until_us == leaves_us
    assert vector.features_at(leaves_us - 1)["orders_count_24h"] == 1.0
    assert compute_features(state, from_us(leaves_us))["orders_count_24h"] == 0.0
    assert not vector.covers(leaves_us)
    assert not vector.covers(vector.as_of_us - 1)


def test_a_vector_of_another_schema_or_layout_is_not_used(events, build_state):
    state = build_state(events.order(events.at(hours=-2), "o1"))
    vector = feature_vector(state, to_us(events.anchor))
    assert vector is not None
    other = FeatureVector(
        FEATURE_SCHEMA.version + 1,
        vector.as_of_us,
        vector.valid_until_us,
        vector.clock_us,
        vector.first_event_us,
        vector.values,
        vector.counters,
    )
    assert not other.covers(vector.as_of_us)
    assert FeatureVector.from_bytes(b"") is None
    assert FeatureVector.from_bytes(b"[99]") is None
    short = FeatureVector(
        vector.schema_version,
        vector.as_of_us,
        vector.valid_until_us,
        vector.clock_us,
        vector.first_event_us,
        vector.values[1:],
        vector.counters,
    )
    assert not short.covers(vector.as_of_us)
    for malformed in (
        b"[1, 2",
        b"{}",
        b"[1]",
        b'[1, 2, "soon", 4, 5, null, [1.0], {}]',
        b"[1, 2, 3, 4, 5, null, [1], {}]",
        b"[1, 2, 3, 4, 5, null, [1.0], []]",
    ):
        with pytest.raises(StateFormatError):
            FeatureVector.from_bytes(malformed)


def test_no_vector_without_a_clock_nor_more_than_a_day_before_it(events, build_state):
    assert feature_vector(CustomerState.new("c1"), START_US) is None
    state = build_state(events.order(events.anchor, "o1"))
    with pytest.raises(AsOfOutOfRangeError):
        feature_vector(state, to_us(events.at(days=-1)) - 1)
