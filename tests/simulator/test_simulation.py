from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas.events import OrderEvent, PaymentEvent, RefundEvent
from simulator import ARCHETYPES, SimulationResult, iter_events, simulate

START = datetime(2025, 9, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def result() -> SimulationResult:
    return simulate(customers=300, days=120, seed=11, start=START)


def test_same_seed_gives_the_same_events_and_outcomes(result: SimulationResult) -> None:
    again = simulate(customers=300, days=120, seed=11, start=START)
    assert [e.event_id for e in again.events] == [e.event_id for e in result.events]
    assert again.events[-1] == result.events[-1]
    assert again.outcomes == result.outcomes


def test_same_seed_writes_byte_identical_event_logs(tmp_path: Path) -> None:
    first = simulate(customers=40, days=60, seed=3, start=START)
    second = simulate(customers=40, days=60, seed=3, start=START)
    first.write_jsonl(tmp_path / "first.jsonl")
    second.write_jsonl(tmp_path / "second.jsonl")
    assert (tmp_path / "first.jsonl").read_bytes() == (tmp_path / "second.jsonl").read_bytes()
    assert first.outcomes == second.outcomes
    assert first.archetypes == second.archetypes


def test_a_customer_does_not_depend_on_how_many_others_are_simulated() -> None:
    few = simulate(customers=10, days=60, seed=3, start=START)
    many = simulate(customers=40, days=60, seed=3, start=START)
    assert [e for e in many.events if e.customer_id in few.outcomes] == few.events
    assert {cid: many.outcomes[cid] for cid in few.outcomes} == few.outcomes


def test_another_seed_gives_other_customers(result: SimulationResult) -> None:
    other = simulate(customers=300, days=120, seed=12, start=START)
    assert not set(other.outcomes) & set(result.outcomes)


def test_events_are_time_sorted_inside_the_period_and_unique(result: SimulationResult) -> None:
    times = [e.occurred_at for e in result.events]
    assert times == sorted(times)
    assert times[0] >= START
    assert times[-1] < START + timedelta(days=120)
    assert len({e.event_id for e in result.events}) == len(result.events)


def test_every_archetype_and_event_type_appears(result: SimulationResult) -> None:
    assert set(result.archetypes.values()) == set(ARCHETYPES)
    assert {e.event_type for e in result.events} == {
        "order",
        "payment",
        "refund",
        "review",
        "registration",
        "verification",
        "bureau_report",
    }


def test_credit_orders_create_repayments_with_due_dates(result: SimulationResult) -> None:
    repayments = [e for e in result.events if isinstance(e, PaymentEvent) and e.kind == "repayment"]
    assert repayments
    assert all(r.due_at is not None and r.days_past_due is not None for r in repayments)
    assert any(r.days_past_due and r.days_past_due >= 30 for r in repayments)
    assert any(r.instalment_no is not None and r.instalment_no > 1 for r in repayments)
    credit_orders = {e.order_id for e in result.events if isinstance(e, OrderEvent) and e.on_credit}
    assert {r.order_id for r in repayments} <= credit_orders


def test_refund_abuse_keeps_the_goods(result: SimulationResult) -> None:
    keep_the_goods = [
        e
        for e in result.events
        if isinstance(e, RefundEvent)
        and e.status == "approved"
        and e.reason == "not_received"
        and not e.goods_returned
    ]
    abusers = {cid for cid, a in result.archetypes.items() if a == "refund_abuser"}
    assert sum(e.customer_id in abusers for e in keep_the_goods) > len(keep_the_goods) / 2


def test_bust_out_ends_in_chargebacks_or_failed_repayments(result: SimulationResult) -> None:
    busters = {cid for cid, a in result.archetypes.items() if a == "bust_out"}
    failures = {
        e.customer_id
        for e in result.events
        if isinstance(e, PaymentEvent)
        and (e.kind == "chargeback" or (e.kind == "repayment" and e.status == "failed"))
    }
    assert busters & failures


def test_bad_outcomes_come_from_behaviour(result: SimulationResult) -> None:
    """A bad outcome is a chargeback, 30 days past due, or a later-confirmed abusive refund."""
    bad = {cid: at for cid, at in result.outcomes.items() if at is not None}
    assert bad
    by_customer: dict[str, list[object]] = {}
    for event in result.events:
        by_customer.setdefault(event.customer_id, []).append(event)
    for customer_id, bad_at in bad.items():
        history = by_customer[customer_id]
        chargeback = any(
            isinstance(e, PaymentEvent) and e.kind == "chargeback" and e.occurred_at == bad_at
            for e in history
        )
        overdue = any(
            isinstance(e, PaymentEvent)
            and e.due_at is not None
            and abs(e.due_at + timedelta(days=30) - bad_at) < timedelta(seconds=1)
            for e in history
        )
        abusive_refund = any(
            isinstance(e, RefundEvent) and not e.goods_returned and e.occurred_at < bad_at
            for e in history
        )
        assert chargeback or overdue or abusive_refund, customer_id


def test_label_is_one_only_when_the_bad_outcome_is_inside_the_horizon(
    result: SimulationResult,
) -> None:
    customer_id, bad_at = next(
        (cid, at)
        for cid, at in result.outcomes.items()
        if at is not None and START + timedelta(days=31) < at < START + timedelta(days=60)
    )
    assert result.label(customer_id, bad_at - timedelta(days=1), horizon_days=30) == 1
    assert result.label(customer_id, bad_at - timedelta(days=31), horizon_days=30) == 0
    assert result.label(customer_id, bad_at, horizon_days=30) == 0
    never_bad = next(cid for cid, at in result.outcomes.items() if at is None)
    assert result.label(never_bad, START, horizon_days=90) == 0


def test_label_refuses_a_horizon_past_the_simulation(result: SimulationResult) -> None:
    with pytest.raises(ValueError, match="past the simulation end"):
        result.label(next(iter(result.outcomes)), START + timedelta(days=60), horizon_days=90)


def test_streaming_form_yields_the_same_events_in_order() -> None:
    small = simulate(customers=40, days=60, seed=3, start=START)
    assert list(iter_events(customers=40, days=60, seed=3, start=START)) == small.events
