"""Onboarding features (registration, verification, bureau report) and shared-signal
features: their definitions at a point in time, their independence from arrival order and
age, and the state's version 2 layout (a version 1 state still reads)."""

from __future__ import annotations

import itertools

import orjson
import pytest

from schemas.identifiers import keyed_hash
from services.features.core import (
    ApplyOutcome,
    CustomerState,
    apply_event,
    apply_signal,
    compute_features,
    normalised_bureau_score,
)
from services.features.core.state import MAX_SIGNALS, STATE_FORMAT_VERSION

PHONE = keyed_hash("phone", "13800138000", b"consortium", "k1")


def onboarding(events):
    return [
        events.registration(events.at(days=-40), PHONE),
        events.verification(events.at(days=-40), "phone"),
        events.verification(events.at(days=-39), "real_name", passed=False),
        events.verification(events.at(days=-2), "real_name"),
        events.verification(events.at(days=-1), "bank_card", passed=False),
        events.bureau_report(
            events.at(days=-39), score=770, fetched=events.at(days=-39, hours=-1), inquiries=2
        ),
    ]


def test_onboarding_features_read_what_was_known_at_the_instant(events, build_state):
    state = build_state(*onboarding(events))

    now = compute_features(state, events.anchor)
    assert now["days_since_registration"] == 40.0
    assert (now["verified_phone"], now["verified_real_name"], now["verified_bank_card"]) == (
        1.0,
        1.0,
        0.0,
    )
    assert now["verified_email"] == 0.0
    assert now["verified_kinds_count"] == 2.0
    assert now["verifications_failed_30d"] == 1.0  # the failure 39 days ago is out of it
    assert now["bureau_score_normalised"] == pytest.approx((770 - 350) / 600)
    assert now["bureau_inquiries_6m"] == 2.0
    assert now["bureau_delinquencies"] == 0.0
    assert now["days_since_bureau_report"] == pytest.approx(39 + 1 / 24)
    # Onboarding is not behaviour: the customer has no history yet.
    assert now["days_since_first_event"] is None

    earlier = compute_features(state, events.at(days=-1, hours=-1))
    assert earlier["verified_real_name"] == 1.0
    assert earlier["verified_bank_card"] == 0.0
    assert earlier["verifications_failed_30d"] == 0.0


def test_the_latest_result_of_a_kind_counts(events, build_state):
    state = build_state(
        events.verification(events.at(days=-3), "phone"),
        events.verification(events.at(days=-1), "phone", passed=False),
    )
    assert compute_features(state, events.anchor)["verified_phone"] == 0.0
    assert compute_features(state, events.at(days=-2))["verified_phone"] == 1.0


def test_onboarding_in_any_order_and_at_any_age_gives_the_same_features(events):
    history = onboarding(events)
    expected = None
    for order in itertools.islice(itertools.permutations(history), 0, 720, 37):
        state = CustomerState.new("c1")
        for event in order:
            # Processed a year later: onboarding data never ages out.
            assert apply_event(state, event, events.at(days=365)) is ApplyOutcome.APPLIED
        features = compute_features(state, events.at(days=365))
        expected = expected or features
        assert features == expected
    assert expected is not None
    assert expected["days_since_registration"] == 405.0


def test_a_repeated_onboarding_event_is_a_duplicate(events, build_state):
    report = events.bureau_report(events.at(days=-1))
    state = build_state(report)
    assert apply_event(state, report, events.anchor) is ApplyOutcome.DUPLICATE


def test_a_later_registration_adds_hashes_and_keeps_the_first_instant(events, build_state):
    rotated = keyed_hash("phone", "13800138000", b"next consortium key", "k2")
    state = build_state(
        events.registration(events.at(days=-10), PHONE),
        events.registration(events.at(days=-1), PHONE, rotated),
    )
    assert compute_features(state, events.anchor)["days_since_registration"] == 10.0
    assert state.contacts == [
        ("phone", "k1", PHONE.hash),
        ("phone", "k2", rotated.hash),
    ]


def test_bureau_scores_are_read_on_their_provider_scale() -> None:
    # A known provider's scale wins over the one the report states.
    assert normalised_bureau_score("sesame", 650, 0, 1000) == pytest.approx(0.5)
    assert normalised_bureau_score("fico", 850, 300, 850) == 1.0
    # An unknown provider is read on its own scale.
    assert normalised_bureau_score("bureau_x", 250, 0, 1000) == 0.25
    assert normalised_bureau_score("bureau_x", 250, 200, 300) == 0.5


def test_the_latest_report_by_fetch_time_counts(events, build_state):
    state = build_state(
        events.bureau_report(events.at(days=-1), score=900, fetched=events.at(days=-30)),
        events.bureau_report(events.at(days=-2), score=500, fetched=events.at(days=-5)),
    )
    assert compute_features(state, events.anchor)["bureau_score_normalised"] == pytest.approx(
        150 / 600
    )


def test_a_signal_counts_from_its_effect_until_retracted(events, build_state):
    state = build_state()
    assert apply_signal(state, events.matched(events.at(days=-2)), events.anchor) is (
        ApplyOutcome.APPLIED
    )
    apply_signal(
        state,
        events.matched(events.at(days=-1), "s2", signal_type="chargeback_abuse", severity="low"),
        events.anchor,
    )
    features = compute_features(state, events.anchor)
    assert features["shared_signals_confirmed_fraud"] == 1.0
    assert features["shared_signals_chargeback_abuse"] == 1.0
    assert features["shared_signals_serious_delinquency_90d"] == 0.0
    assert features["shared_signals_max_severity"] == 3.0

    retraction = events.matched(events.at(hours=-1), action="retract")
    assert apply_signal(state, retraction, events.anchor) is ApplyOutcome.APPLIED
    assert apply_signal(state, retraction, events.anchor) is ApplyOutcome.DUPLICATE
    features = compute_features(state, events.anchor)
    assert features["shared_signals_confirmed_fraud"] == 0.0
    assert features["shared_signals_max_severity"] == 1.0
    # Before the retraction it counted.
    assert compute_features(state, events.at(hours=-2))["shared_signals_confirmed_fraud"] == 1.0


def test_one_signal_counts_once_however_often_and_in_whatever_order_it_arrives(events):
    publication = events.matched(events.at(days=-2))
    retraction = events.matched(events.at(days=-1), action="retract")
    for order in ([publication, publication], [retraction, publication, publication]):
        state = CustomerState.new("c1")
        for matched in order:
            apply_signal(state, matched, events.anchor)
        expected = 0.0 if retraction in order else 1.0
        assert compute_features(state, events.anchor)["shared_signals_confirmed_fraud"] == (
            expected
        )


def test_an_expired_signal_stops_counting(events, build_state):
    state = build_state()
    apply_signal(
        state, events.matched(events.at(days=-10), expires=events.at(hours=-12)), events.anchor
    )
    assert compute_features(state, events.anchor)["shared_signals_confirmed_fraud"] == 0.0
    assert compute_features(state, events.at(hours=-13))["shared_signals_confirmed_fraud"] == 1.0


def test_signals_are_bounded_dropping_ended_ones_first(events, build_state):
    state = build_state()
    apply_signal(state, events.matched(events.at(days=-50), "active"), events.anchor)
    for number in range(MAX_SIGNALS):
        signal_id = f"ended-{number}"
        apply_signal(state, events.matched(events.at(days=-30), signal_id), events.anchor)
        apply_signal(
            state, events.matched(events.at(days=-20), signal_id, action="retract"), events.anchor
        )
    assert len(state.signals) == MAX_SIGNALS
    assert ("okpay", "active") in state.signals


def test_version_2_state_round_trips_and_version_1_state_still_reads(events, build_state):
    state = build_state(*onboarding(events), events.order(events.at(days=-1), "o1"))
    apply_signal(state, events.matched(events.at(days=-1)), events.anchor)
    stored = state.to_bytes()
    assert orjson.loads(stored.partition(b"\n")[0])["v"] == STATE_FORMAT_VERSION == 2
    assert CustomerState.from_bytes(stored) == state

    plain = build_state(events.order(events.at(days=-1), "o1"))
    header, _, records = plain.to_bytes().partition(b"\n")
    document = orjson.loads(header)
    assert "profile" not in document
    assert "signals" not in document
    version_1 = orjson.dumps({**document, "v": 1}) + b"\n" + records
    migrated = CustomerState.from_bytes(version_1)
    assert compute_features(migrated, events.anchor) == compute_features(plain, events.anchor)
    assert compute_features(migrated, events.anchor)["verified_kinds_count"] == 0.0
