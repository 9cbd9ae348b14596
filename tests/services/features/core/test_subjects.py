"""The subject table: a signal and a customer's identifier hash meet whichever comes first,
a retraction reaches every customer the signal reached, and entries survive serialisation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.identifiers import keyed_hash
from schemas.signals import AcceptedSignal, ContactLink, SignalPublication, SignalRetraction
from services.features.core import (
    CustomerState,
    StateFormatError,
    SubjectEntry,
    apply_signal,
    compute_features,
    file_accepted,
    link_customer,
)

PHONE = keyed_hash("phone", "13800138000", b"consortium", "k1")
ID_NUMBER = keyed_hash("id_number", "11010519491231002X", b"consortium", "k1")


def publication(events, subjects=(PHONE,), signal_id="s1") -> SignalPublication:
    return SignalPublication(
        action="publish",
        signal_id=signal_id,
        issuer="okpay",
        signal_type="confirmed_fraud",
        severity="high",
        observed_on=events.at(days=-3).date(),
        issued_at=events.at(days=-1),
        subjects=list(subjects),
        legal_basis="legal_obligation",
    )


def retraction(events, subjects=(PHONE,), signal_id="s1") -> SignalRetraction:
    return SignalRetraction(
        action="retract",
        signal_id=signal_id,
        issuer="okpay",
        issued_at=events.at(hours=-1),
        subjects=list(subjects),
        reason="dispute_upheld",
    )


def accepted(signal, subject=PHONE) -> AcceptedSignal:
    return AcceptedSignal(subject=subject, signal=signal, effective_at=signal.issued_at)


def test_a_signal_reaches_the_customers_already_holding_the_hash(events):
    entry = SubjectEntry(kind="phone")
    assert link_customer(entry, ContactLink(customer_id="c1", subject=PHONE)) == []
    link_customer(entry, ContactLink(customer_id="c2", subject=PHONE))

    matches = file_accepted(entry, accepted(publication(events)), events.anchor)

    assert [(m.customer_id, m.action, m.signal_type) for m in matches] == [
        ("c1", "publish", "confirmed_fraud"),
        ("c2", "publish", "confirmed_fraud"),
    ]
    assert matches[0].effective_at == events.at(days=-1)
    assert matches[0].subject_kind == "phone"


def test_a_customer_registering_later_gets_the_signals_already_filed(events):
    entry = SubjectEntry(kind="phone")
    assert file_accepted(entry, accepted(publication(events)), events.anchor) == []
    file_accepted(entry, accepted(retraction(events, signal_id="s0")), events.anchor)

    matches = link_customer(entry, ContactLink(customer_id="c9", subject=PHONE))

    assert sorted((m.signal_id, m.action) for m in matches) == [
        ("s0", "retract"),
        ("s1", "publish"),
    ]
    # Delivered again on a redelivered link: the customer's state dedupes it.
    assert link_customer(entry, ContactLink(customer_id="c9", subject=PHONE)) == matches
    assert entry.customers == ["c9"]


def test_a_retraction_reaches_everyone_and_a_late_publication_stays_retracted(events):
    entry = SubjectEntry(kind="phone")
    link_customer(entry, ContactLink(customer_id="c1", subject=PHONE))
    file_accepted(entry, accepted(retraction(events)), events.anchor)

    matches = file_accepted(entry, accepted(publication(events)), events.anchor)

    assert [m.action for m in matches] == ["publish", "retract"]
    state = CustomerState.new("c1")
    for match in matches:
        apply_signal(state, match, events.anchor)
    assert compute_features(state, events.anchor)["shared_signals_confirmed_fraud"] == 0.0


def test_a_signal_matching_two_identifiers_of_one_customer_counts_once(events):
    signal = publication(events, subjects=(PHONE, ID_NUMBER))
    state = CustomerState.new("c1")
    for subject in (PHONE, ID_NUMBER):
        entry = SubjectEntry(kind=subject.kind)
        link_customer(entry, ContactLink(customer_id="c1", subject=subject))
        for match in file_accepted(entry, accepted(signal, subject), events.anchor):
            apply_signal(state, match, events.anchor)
    assert compute_features(state, events.anchor)["shared_signals_confirmed_fraud"] == 1.0


def test_signals_that_ended_long_ago_are_forgotten(events):
    entry = SubjectEntry(kind="phone")
    file_accepted(entry, accepted(publication(events)), events.anchor)
    file_accepted(entry, accepted(retraction(events)), events.anchor)
    file_accepted(
        entry, accepted(publication(events, signal_id="s2")), events.anchor + timedelta(days=91)
    )
    assert set(entry.signals) == {("okpay", "s2")}


def test_an_entry_round_trips_and_garbage_is_refused(events):
    entry = SubjectEntry(kind="phone")
    link_customer(entry, ContactLink(customer_id="c1", subject=PHONE))
    file_accepted(entry, accepted(publication(events)), events.anchor)
    assert SubjectEntry.from_bytes(entry.to_bytes()) == entry
    with pytest.raises(StateFormatError):
        SubjectEntry.from_bytes(b'{"kind": "phone"}')
