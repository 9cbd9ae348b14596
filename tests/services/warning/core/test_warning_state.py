from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.actions import ACTION_TYPES, ActiveAction
from schemas.codecs import model_json
from services.warning.core import (
    ReviewCase,
    RuleActivation,
    WarningState,
    risk_state_view,
)
from services.warning.core.case_record import CASE_ORIGINS
from services.warning.core.state import MEMO_STATES
from tests.services.warning.core.scored_customer import Customer
from tests.services.warning.warning_fakes import MODEL_LIMIT

# Any offset RFC 3339 can write (whole minutes; pydantic reads no other), instants with and
# without microseconds.
offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
instants = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets
)
texts = st.text(max_size=12)
limits = st.one_of(st.none(), st.floats(min_value=0, allow_nan=False, allow_infinity=False))
grades = st.sampled_from(["S", "A", "B", "C", "D"])
held = st.builds(
    ActiveAction,
    action_id=texts,
    action=st.sampled_from(ACTION_TYPES),
    rule_id=texts,
    reason=texts,
    issued_at=instants,
    severity=st.sampled_from([None, "green", "yellow", "red"]),
    credit_limit=limits,
)
activations = st.builds(
    RuleActivation,
    rule_id=texts,
    entered_at=instants,
    escalated_from=st.one_of(st.none(), texts),
    exit_since=st.one_of(st.none(), instants),
    notices=st.lists(held, max_size=2).map(tuple),
)
cases = st.builds(
    ReviewCase,
    case_id=texts,
    origin=st.sampled_from(CASE_ORIGINS),
    reference=texts,
    customer_id=st.text(min_size=1, max_size=64),
    opened_at=instants,
    reason=texts,
    score=st.one_of(st.none(), st.integers(300, 900)),
    grade=st.one_of(st.none(), grades),
    reason_codes=st.lists(texts, max_size=2).map(tuple),
    holds=st.lists(texts, max_size=2).map(tuple),
    claimed_at=st.one_of(st.none(), instants),
    decided_at=st.one_of(st.none(), instants),
    comment=st.one_of(st.none(), texts),
    decision_action_ids=st.lists(texts, max_size=2).map(tuple),
    limit_requested=limits,
    limit_offered=limits,
)
states = st.builds(
    WarningState,
    customer_id=st.text(min_size=1, max_size=64),
    holds=st.lists(held, max_size=3).map(tuple),
    activations=st.lists(activations, max_size=2).map(tuple),
    last_entered=st.dictionaries(texts, instants, max_size=3),
    status_since=st.one_of(st.none(), instants),
    last_score=st.one_of(st.none(), st.integers(300, 900)),
    last_grade=st.one_of(st.none(), grades),
    last_score_id=st.one_of(st.none(), texts),
    last_scored_at=st.one_of(st.none(), instants),
    rules_version=st.one_of(st.none(), texts),
    updated_at=st.one_of(st.none(), instants),
    version=st.integers(min_value=0, max_value=2**63),
    cases=st.lists(cases, max_size=2).map(tuple),
    locale=st.one_of(st.none(), texts),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(states)
def test_the_json_of_a_state_and_its_view_is_what_pydantic_writes(
    state: WarningState,
) -> None:
    data = state.to_json()
    view = risk_state_view(state)

    assert data == state.model_dump_json().encode()
    assert WarningState.model_validate_json(data) == state
    assert model_json(view) == view.model_dump_json().encode()


def test_state_round_trips_through_json(customer: Customer) -> None:
    customer.score("D", refunds_without_return_30d=3, refunds_count_30d=3)
    assert customer.state is not None
    restored = WarningState.from_json(customer.state.to_json())
    assert restored == customer.state
    assert restored.status == "frozen"


def test_risk_state_view_lists_actions_in_effect_with_reasons(customer: Customer) -> None:
    customer.score("B", 640, refunds_without_return_30d=3, refunds_count_30d=3)
    customer.clock.advance(72)
    customer.score("B", 640)
    assert customer.state is not None
    view = risk_state_view(customer.state)
    assert view.status == "frozen"
    assert view.credit_limit == MODEL_LIMIT * 0.5
    assert [a.action for a in view.active_actions] == [
        "cut_limit",
        "notify",
        "freeze_credit",
        "manual_review",
    ]
    assert view.active_actions[0].reason.startswith(
        "Refunds without returned goods, or most orders refunded, in 30 days: "
        "grade B (score 640) meets `refunds_without_return_30d >= 3"
    )
    assert view.status_since == customer.clock.now()
    assert view.last_score == 640


def test_states_read_and_written_past_the_memo_bound_stay_exact(customer: Customer) -> None:
    customer.score("D", refunds_without_return_30d=3, refunds_count_30d=3)
    state = customer.state
    assert state is not None
    versions = [state.model_copy(update={"version": n}) for n in range(MEMO_STATES + 50)]

    written = [version.to_json() for version in versions]
    read = [WarningState.from_json(data) for data in written]

    assert read == versions
    assert [WarningState.from_json(data).version for data in written[:3]] == [0, 1, 2]
    assert WarningState.from_json(written[-1].decode()) == versions[-1]
