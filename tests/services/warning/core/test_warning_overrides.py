import pytest

from services.warning.core import (
    manual_override,
)
from services.warning.errors import StateError
from tests.services.warning.core.scored_customer import Customer


def test_manual_override_unfreezes_and_the_rule_does_not_refreeze(customer: Customer) -> None:
    customer.score("B", chargebacks_90d=2)
    assert customer.status == "frozen"
    assert customer.state is not None
    customer.clock.advance(2)
    override = manual_override(
        customer.state,
        "unfreeze_credit",
        "chargebacks disputed and won",
        "analyst-7",
        customer.clock.now(),
    )
    [action] = override.actions
    assert action.action == "unfreeze_credit"
    assert action.rule_id == "manual-override"
    assert action.reason == "manual override by analyst-7: chargebacks disputed and won"
    assert override.state.status == "active"
    retried = manual_override(
        customer.state,
        "unfreeze_credit",
        "chargebacks disputed and won",
        "analyst-7",
        customer.clock.now(),
    )
    assert retried.actions[0].action_id == action.action_id
    customer.state = override.state
    customer.clock.advance(1)
    assert customer.score("B", chargebacks_90d=2) == []
    assert customer.status == "active"
    with pytest.raises(StateError, match="nothing to unfreeze_credit"):
        manual_override(
            customer.state, "unfreeze_credit", "again", "analyst-7", customer.clock.now()
        )


def test_manual_restrictions_need_their_parameters(customer: Customer) -> None:
    customer.score("A")
    assert customer.state is not None
    now = customer.clock.now()
    with pytest.raises(StateError, match="credit_limit"):
        manual_override(customer.state, "cut_limit", "fraud ring", "analyst-7", now)
    with pytest.raises(StateError, match="reason"):
        manual_override(customer.state, "freeze_credit", " ", "analyst-7", now)
    cut = manual_override(customer.state, "cut_limit", "fraud ring", "analyst-7", now, 300.0)
    assert cut.actions[0].credit_limit == 300.0
    assert cut.state.status == "limited"
    restored = manual_override(cut.state, "restore_limit", "cleared", "analyst-7", now)
    assert restored.state.status == "active"
    assert restored.actions[0].credit_limit is None
