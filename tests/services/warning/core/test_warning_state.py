from services.warning.core import (
    WarningState,
    risk_state_view,
)
from services.warning.core.state import MEMO_STATES
from tests.services.warning.core.scored_customer import Customer
from tests.services.warning.warning_fakes import MODEL_LIMIT


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
