"""The whole pipeline on the real Kafka and Redis: events enter through the ingest API,
the feature worker, the streaming scorer and the warning service turn them into actions,
and the reference order-system consumer applies each action once, also across a kill -9
of the warning service mid-stream.

The model is a tiny logistic bundle (failed payments, chargebacks and late repayments are
adverse; orders are mildly favourable) so the grades are known in advance; the rules are
the shipped default rules with their waiting times shrunk from hours to seconds, so
escalation and recovery happen within the test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.harness import ServiceProcess
from examples.order_system_consumer import OrderAccounts
from services.common.settings import ServiceSettings
from tests.services.scorer.scorer_bundles import build_bundle
from tests.support.actions import actions_of, read_actions
from tests.support.polling import wait_until
from tests.support.rules import fast_rules

pytestmark = pytest.mark.integration
CLIENT = {"Authorization": "Bearer dev-client-key"}
NOW = datetime.now(UTC)


class Customer:
    """Builds one customer's events, all in the past."""

    def __init__(self, customer_id: str) -> None:
        self.id = customer_id
        self._n = 0

    def _event(self, event_type: str, days_ago: float, **fields: Any) -> dict[str, Any]:
        self._n += 1
        return {
            "event_id": f"{self.id}-{self._n}",
            "event_type": event_type,
            "customer_id": self.id,
            "occurred_at": (NOW - timedelta(days=days_ago)).isoformat(),
            **fields,
        }

    def order(self, days_ago: float, amount: float = 80.0, method: str = "card") -> dict[str, Any]:
        return self._event(
            "order",
            days_ago,
            order_id=f"{self.id}-o{self._n}",
            amount=amount,
            currency="CNY",
            payment_method=method,
            status="placed",
            item_count=1,
            channel="app",
        )

    def payment(self, days_ago: float, kind: str, status: str, **fields: Any) -> dict[str, Any]:
        return self._event(
            "payment",
            days_ago,
            order_id=f"{self.id}-o1",
            payment_id=f"{self.id}-p{self._n}",
            amount=40.0,
            currency="CNY",
            kind=kind,
            status=status,
            **fields,
        )

    def refund_without_return(self, days_ago: float) -> dict[str, Any]:
        return self._event(
            "refund",
            days_ago,
            order_id=f"{self.id}-o1",
            refund_id=f"{self.id}-r{self._n}",
            amount=80.0,
            currency="CNY",
            reason="not_received",
            goods_returned=False,
            status="approved",
        )

    def review(self, days_ago: float, rating: int) -> dict[str, Any]:
        return self._event(
            "review",
            days_ago,
            order_id=f"{self.id}-o1",
            review_id=f"{self.id}-v{self._n}",
            rating=rating,
            flagged_abusive=False,
        )


def send(gateway: ServiceProcess, events: list[dict[str, Any]]) -> None:
    response = httpx.post(
        f"{gateway.base_url}/v1/events:batch", json={"events": events}, headers=CLIENT, timeout=30
    )
    assert response.status_code == 202, response.text


@pytest.fixture
def pipeline(
    start_service: Callable[..., ServiceProcess], tmp_path: Path
) -> dict[str, ServiceProcess]:
    bundle = build_bundle(tmp_path / "bundle", "e2e-1", bias=-4.0)
    rules = fast_rules(tmp_path / "rules.yaml")
    return {
        "ingest": start_service("ingest"),
        "features": start_service("features"),
        "scorer": start_service("scorer", RISKSTREAM_DEFAULT_BUNDLE=str(bundle)),
        "warning": start_service("warning", RISKSTREAM_RULES_PATH=str(rules)),
    }


def test_customers_get_the_treatment_their_behaviour_earns(
    service_settings: ServiceSettings, pipeline: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    gateway = pipeline["ingest"]
    reliable, abuser, bust_out, recovering = (
        Customer(f"{name}-{tmp_path.name[-6:]}")
        for name in ("reliable", "abuser", "bustout", "recovering")
    )

    send(
        gateway,
        [
            *(reliable.order(days_ago=20 - i) for i in range(5)),
            *(
                reliable.payment(
                    days_ago=15 - i, kind="repayment", status="succeeded", days_past_due=0
                )
                for i in range(3)
            ),
            reliable.review(days_ago=10, rating=5),
            *(abuser.order(days_ago=12 - i) for i in range(4)),
            *(abuser.refund_without_return(days_ago=8 - i) for i in range(4)),
            *(bust_out.order(days_ago=30 - i, method="bnpl") for i in range(3)),
            *(bust_out.order(days_ago=0.5, amount=3000.0, method="bnpl") for _ in range(4)),
            *(
                bust_out.payment(days_ago=2 - i * 0.2, kind="charge", status="failed")
                for i in range(6)
            ),
            *(
                bust_out.payment(days_ago=1 - i * 0.1, kind="chargeback", status="succeeded")
                for i in range(2)
            ),
            recovering.order(days_ago=25),
            *(
                recovering.payment(days_ago=10 - i, kind="charge", status="failed")
                for i in range(2)
            ),
        ],
    )
    wait_until(
        lambda: "cut_limit" in actions_of(service_settings).get(recovering.id, []),
        90,
        "the recovering customer's limit cut",
    )
    wait_until(
        lambda: "cut_limit" in actions_of(service_settings).get(abuser.id, []),
        60,
        "the refund abuser's limit cut",
    )
    wait_until(
        lambda: "freeze_credit" in actions_of(service_settings).get(bust_out.id, []),
        60,
        "the bust-out freeze",
    )

    # The warning service crashes mid-stream; its replacement picks up where it stopped.
    pipeline["warning"].kill()
    time.sleep(4)  # past the refund abuser's escalation time
    send(
        gateway,
        [
            abuser.refund_without_return(days_ago=0.1),
            *(recovering.order(days_ago=5 - i * 0.2) for i in range(24)),
        ],
    )
    pipeline["warning"].start()

    wait_until(
        lambda: "freeze_credit" in actions_of(service_settings).get(abuser.id, []),
        90,
        "the refund abuser's freeze",
    )
    wait_until(
        lambda: "restore_limit" in actions_of(service_settings).get(recovering.id, []),
        90,
        "the recovering customer's restored limit",
    )

    actions = actions_of(service_settings)
    assert reliable.id not in actions
    assert actions[abuser.id].index("cut_limit") < actions[abuser.id].index("freeze_credit")
    assert actions[recovering.id].index("cut_limit") < actions[recovering.id].index("restore_limit")

    # The order system applies each action once, however often the topic carries it.
    records = asyncio.run(read_actions(service_settings))
    accounts = OrderAccounts(tmp_path / "orders.db")
    try:
        applied = [accounts.apply(action) for action in records + records]
        assert sum(applied) == len({a.action_id for a in records})
        assert accounts.account(bust_out.id) is not None
    finally:
        accounts.close()
    status = httpx.get(
        f"{pipeline['warning'].base_url}/v1/customers/{bust_out.id}/risk",
        headers=CLIENT,
        timeout=10,
    ).json()
    assert status["status"] in ("frozen", "suspended")
