import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.actions import ActiveAction
from schemas.common import GRADES, Grade
from schemas.features import FEATURE_SCHEMA
from services.warning.core import (
    RuleSet,
    WarningState,
    evaluate,
    risk_state_view,
)
from services.warning.core.evaluation import environments
from services.warning.core.expressions import Value
from services.warning.core.rules import BASE_VARIABLES
from services.warning.errors import StateError
from tests.services.warning.core.scored_customer import Customer
from tests.services.warning.warning_fakes import MODEL_LIMIT, score


def test_reliable_customer_gets_no_action(customer: Customer) -> None:
    for day in range(60):
        assert customer.score("A" if day % 3 else "S", 740 + day % 7) == []
        customer.clock.advance(24)
    assert customer.status == "active"
    assert customer.state is not None
    assert risk_state_view(customer.state).active_actions == []


def test_hysteresis_keeps_the_limit_while_the_grade_flaps(customer: Customer) -> None:
    customer.score("B")
    customer.clock.advance(1)
    assert customer.score("C") == [("low_grade", "cut_limit"), ("low_grade", "notify")]
    assert customer.state is not None
    assert customer.state.credit_limit == MODEL_LIMIT * 0.5
    for step in range(12):  # B and C alternate every 12 hours for six days
        customer.clock.advance(12)
        assert customer.score("B" if step % 2 == 0 else "C") == []
        assert customer.status == "limited"
    for _ in range(3):  # the exit condition holds from the first of these B scores on
        customer.clock.advance(24)
        assert customer.score("B") == []
    customer.clock.advance(25)  # 73 hours since the first B: past the 72 h minimum
    result = customer.apply(customer.record("B"))
    assert [(a.rule_id, a.action, a.credit_limit) for a in result.actions] == [
        ("low_grade", "restore_limit", None)
    ]
    assert "held for 73 h (minimum 72 h)" in result.actions[0].reason
    assert customer.status == "active"


def test_cooldown_suppresses_repeats_within_the_window(customer: Customer) -> None:
    customer.score("A", 740)
    customer.clock.advance(1)
    assert customer.score("B", 650) == [("sudden_score_drop", "manual_review")]
    customer.clock.advance(1)
    assert customer.score("A", 720) == []
    customer.clock.advance(2)
    assert customer.score("B", 630) == []  # a second drop 3 hours after the first
    customer.clock.advance(1)
    assert customer.score("A", 720) == []
    customer.clock.advance(21)  # 25 hours after the first review
    assert customer.score("B", 630) == [("sudden_score_drop", "manual_review")]


def test_persisting_refund_abuse_escalates_from_limited_to_frozen(customer: Customer) -> None:
    customer.score("B")
    customer.clock.advance(1)
    assert customer.score("B", refunds_without_return_30d=3, refunds_count_30d=3) == [
        ("refund_abuse", "cut_limit"),
        ("refund_abuse", "notify"),
    ]
    assert customer.status == "limited"
    customer.clock.advance(48)
    assert customer.score("B") == []
    customer.clock.advance(24)  # 72 hours in the limited state, still abusing
    result = customer.apply(customer.record("B"))
    assert [(a.rule_id, a.action) for a in result.actions] == [
        ("refund_abuse_persistent", "freeze_credit"),
        ("refund_abuse_persistent", "manual_review"),
    ]
    assert "escalated from refund_abuse after 72 h" in result.actions[0].reason
    assert "refunds_without_return_30d=3" in result.actions[0].reason
    assert customer.status == "frozen"


def test_deterioration_escalates_on_the_same_score(customer: Customer) -> None:
    customer.score("A")
    customer.clock.advance(1)
    assert customer.score("B", payments_failed_24h=7, payments_failed_7d=7) == [
        ("payment_failures_burst", "require_prepayment"),
        ("payment_failures_burst", "notify"),
        ("payment_failures_severe", "freeze_credit"),
    ]
    assert customer.status == "frozen"


def test_recovery_reverses_after_the_minimum_time(customer: Customer) -> None:
    customer.score("B", refunds_without_return_30d=4, refunds_count_30d=4)
    customer.clock.advance(80)
    customer.score("B")
    assert customer.status == "frozen"
    customer.clock.advance(1)
    assert customer.score("B", refunds_without_return_30d=0, refund_rate_30d=0.1) == []
    customer.clock.advance(100)
    assert customer.score("A") == []
    customer.clock.advance(68)  # 168 hours of good behaviour
    assert customer.score("A") == [
        ("refund_abuse", "restore_limit"),
        ("refund_abuse_persistent", "unfreeze_credit"),
    ]
    assert customer.status == "active"
    assert customer.state is not None
    assert customer.state.credit_limit is None


def test_credit_repair_steps_down_one_grade_at_a_time(customer: Customer) -> None:
    assert customer.score("D") == [
        ("low_grade", "cut_limit"),
        ("low_grade", "notify"),
        ("grade_d", "freeze_credit"),
    ]
    customer.clock.advance(1)
    assert customer.score("C") == []
    customer.clock.advance(72)
    result = customer.apply(customer.record("C"))
    assert [(a.action, a.credit_limit) for a in result.actions] == [("unfreeze_credit", None)]
    assert customer.status == "limited"
    customer.clock.advance(1)
    customer.score("B")
    customer.clock.advance(72)
    assert customer.score("B") == [("low_grade", "restore_limit")]
    assert customer.status == "active"


def test_a_reversal_waits_while_another_rule_holds_the_same_restriction(
    customer: Customer,
) -> None:
    customer.score("D", days_past_due_max_90d=35, credit_outstanding=900)
    assert customer.status == "frozen"
    customer.clock.advance(1)
    customer.score("C")
    customer.clock.advance(73)
    assert customer.score("C") == []  # grade_d exits, serious_delinquency still freezes
    assert customer.status == "frozen"
    assert customer.state is not None
    assert [a.rule_id for a in customer.state.activations] == ["low_grade", "serious_delinquency"]


def test_replay_yields_the_same_action_ids(
    default_rules: RuleSet, feature_names: tuple[str, ...]
) -> None:
    def run() -> list[str]:
        replayed = Customer(default_rules, feature_names)
        ids: list[str] = []
        for grade, refunds in (("B", 0.0), ("C", 0.0), ("C", 3.0), ("D", 3.0), ("B", 0.0)):
            result = replayed.apply(
                replayed.record(grade, refunds_without_return_30d=refunds, refunds_count_30d=3)
            )
            ids.extend(action.action_id for action in result.actions)
            replayed.clock.advance(40)
        return ids

    first = run()
    assert len(first) >= 5
    assert len(set(first)) == len(first)
    assert run() == first


def test_redelivered_and_out_of_order_scores_are_skipped(customer: Customer) -> None:
    first = customer.record("C")
    assert customer.apply(first).actions
    customer.clock.advance(2)
    later = customer.record("B")
    customer.apply(later)
    state = customer.state
    again = customer.apply(later)
    assert again.skipped
    assert again.actions == []
    assert again.state is state
    assert customer.apply(first).skipped


def test_state_of_another_customer_is_refused(customer: Customer) -> None:
    customer.score("A")
    other = customer.record("A").model_copy(update={"customer_id": "c-2"})
    with pytest.raises(StateError, match="c-2"):
        evaluate(customer.rules, customer.state, other, customer.clock.now())


CHANGED_FEATURES = st.dictionaries(
    st.sampled_from(FEATURE_SCHEMA.names), st.one_of(st.none(), st.floats()), max_size=8
)
AT = datetime(2026, 12, 1, tzinfo=UTC)


@settings(max_examples=200)
@given(
    changed=CHANGED_FEATURES,
    grade=st.sampled_from(GRADES),
    score_value=st.integers(300, 900),
    last_score=st.one_of(st.none(), st.integers(300, 900)),
    frozen=st.booleans(),
)
def test_the_environment_of_changed_values_is_the_scores_with_those_values(
    changed: dict[str, float | None],
    grade: Grade,
    score_value: int,
    last_score: int | None,
    frozen: bool,
) -> None:
    record = score("c-1", AT, "C", payments_failed_24h=float("nan"))
    holds = (
        ActiveAction(
            action_id="a-1",
            action="freeze_credit",
            rule_id="grade_d",
            reason="r",
            issued_at=AT - timedelta(hours=5),
        ),
    )
    state = WarningState(
        customer_id="c-1",
        holds=holds if frozen else (),
        last_score=last_score,
        last_grade="B",
        status_since=AT - timedelta(hours=5),
    )
    features = {**record.features, **changed}
    environment = environments(record, state)

    env = environment(features, grade, score_value)

    own = environment(record.features, record.grade, record.score)
    assert set(own) == set(record.features) | {variable.name for variable in BASE_VARIABLES}
    assert own["payments_failed_24h"] is None  # NaN reads as null
    assert (own["score"], own["grade"], own["previous_grade"]) == (record.score, "C", "B")
    assert own["status"] == ("frozen" if frozen else "active")
    assert own["hours_in_status"] == 5.0
    unchanged = {name: value for name, value in own.items() if name not in record.features}
    expected: dict[str, Value] = {
        **{name: None if v is None or math.isnan(v) else v for name, v in features.items()},
        **unchanged,
        "score": score_value,
        "grade": grade,
        "score_change": None if last_score is None else score_value - last_score,
    }
    assert env == expected
