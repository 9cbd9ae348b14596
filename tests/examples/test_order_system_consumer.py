from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from examples.order_system_consumer import OrderAccounts, describe
from schemas.actions import ActionType, RiskAction

AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def action(
    action_id: str, kind: ActionType, credit_limit: float | None = None, customer: str = "c-1"
) -> RiskAction:
    return RiskAction(
        action_id=action_id,
        customer_id=customer,
        action=kind,
        credit_limit=credit_limit,
        severity="red" if kind == "freeze_credit" else "yellow",
        rule_id="grade_d",
        rule_version="2026-11-27.1",
        reason="Grade D",
        score=550,
        grade="D",
        model_version="m-1",
        triggered_by="e-1",
        issued_at=AT,
    )


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[OrderAccounts]:
    opened = OrderAccounts(tmp_path / "orders.sqlite")
    yield opened
    opened.close()


def test_an_action_is_applied_once_and_a_redelivery_changes_nothing(
    accounts: OrderAccounts,
) -> None:
    assert accounts.apply(action("a-1", "freeze_credit")) is True
    accounts.apply(action("a-2", "unfreeze_credit"))
    assert accounts.apply(action("a-1", "freeze_credit")) is False
    assert accounts.account("c-1") == {
        "customer_id": "c-1",
        "credit_frozen": 0,
        "suspended": 0,
        "prepayment_required": 0,
        "credit_limit": None,
        "pending_review": 0,
    }
    assert sorted(accounts.applied_ids()) == ["a-1", "a-2"]


def test_limits_and_prepayment_follow_cut_and_restore(accounts: OrderAccounts) -> None:
    accounts.apply(action("a-1", "require_prepayment"))
    accounts.apply(action("a-2", "cut_limit", 500.0))
    account = accounts.account("c-1")
    assert account is not None
    assert (account["credit_limit"], account["prepayment_required"]) == (500.0, 1)
    accounts.apply(action("a-3", "restore_limit", None))
    account = accounts.account("c-1")
    assert account is not None
    assert (account["credit_limit"], account["prepayment_required"]) == (None, 0)


def test_applied_ids_survive_a_restart(tmp_path: Path) -> None:
    first = OrderAccounts(tmp_path / "orders.sqlite")
    first.apply(action("a-1", "suspend_account"))
    first.close()
    second = OrderAccounts(tmp_path / "orders.sqlite")
    try:
        assert second.apply(action("a-1", "suspend_account")) is False
        account = second.account("c-1")
        assert account is not None
        assert account["suspended"] == 1
    finally:
        second.close()


def test_describe_names_the_action_limit_customer_and_reason() -> None:
    line = describe(action("a-1", "cut_limit", 500.0))
    assert line == "applied cut_limit (limit 500) to c-1 [yellow, grade_d]: Grade D"
