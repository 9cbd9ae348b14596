from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from examples.order_system_consumer import OrderAccounts, OutgoingNotice, describe
from schemas.actions import ActionType, AdverseActionNotice, NoticeReason, RiskAction
from services.common.tiers import read_service_tiers

AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def notice(action_id: str, locale: str = "en") -> AdverseActionNotice:
    return AdverseActionNotice(
        locale=locale,
        title="Buying on credit is paused on your account",
        summary="From 27 November 2026, new orders cannot be paid on credit.",
        reasons=[NoticeReason(code="R_FAILED_PAY_30D", text="Failed payments in 30 days: 4")],
        appeal=f"You can appeal within 30 days, quoting reference {action_id}.",
        appeal_reference=action_id,
        body="Buying on credit is paused on your account\n...",
    )


def action(
    action_id: str,
    kind: ActionType,
    credit_limit: float | None = None,
    customer: str = "c-1",
    with_notice: AdverseActionNotice | None = None,
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
        notice=with_notice,
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


def test_a_notice_is_delivered_once_with_its_action_and_not_again_on_redelivery(
    accounts: OrderAccounts,
) -> None:
    freeze = action("a-1", "freeze_credit", with_notice=notice("a-1"))
    accounts.apply(freeze)
    accounts.apply(action("a-2", "notify"))
    delivered: list[OutgoingNotice] = []

    first = accounts.deliver_notices(delivered.append)
    accounts.apply(freeze)  # a redelivery
    second = accounts.deliver_notices(delivered.append)

    assert (first, second) == (1, 0)
    (sent,) = delivered
    assert (sent.action_id, sent.customer_id, sent.locale) == ("a-1", "c-1", "en")
    assert sent.title == "Buying on credit is paused on your account"


def test_an_undelivered_notice_survives_a_restart(tmp_path: Path) -> None:
    first = OrderAccounts(tmp_path / "orders.sqlite")
    first.apply(action("a-1", "cut_limit", 500.0, with_notice=notice("a-1", "zh-CN")))
    first.close()
    second = OrderAccounts(tmp_path / "orders.sqlite")
    try:
        assert [n.action_id for n in second.unsent_notices()] == ["a-1"]
    finally:
        second.close()


def test_checkout_offers_the_tiers_terms_unless_credit_is_restricted(
    accounts: OrderAccounts,
) -> None:
    tiers = read_service_tiers(None)
    assert not accounts.repayment_options("c-1").on_credit  # no tier known yet
    accounts.apply_service_tier("c-1", tiers.of("S"))
    assert accounts.repayment_options("c-1") == tiers.of("S").repayment_terms
    assert accounts.service("c-1") is not None
    accounts.apply(action("a-1", "require_prepayment"))
    assert not accounts.repayment_options("c-1").on_credit
    accounts.apply(action("a-2", "restore_limit"))
    assert accounts.repayment_options("c-1").instalments == (3, 6, 12, 24)


def test_a_granted_limit_application_sets_the_granted_limit(accounts: OrderAccounts) -> None:
    granted = action("a-1", "notify").model_copy(update={"limit_granted": 8000.0})
    assert accounts.apply(granted)
    service = accounts.service("c-1")
    assert service is not None
    assert service["granted_limit"] == 8000.0
