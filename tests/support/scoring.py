"""Asking a running score API for an answer, as the checkout would."""

from __future__ import annotations

from typing import Any

import httpx

from deploy.harness import ServiceProcess

CLIENT = {"Authorization": "Bearer dev-client-key"}


def score_credit_order(scorer: ServiceProcess, customer_id: str, amount: float) -> dict[str, Any]:
    """The score answer for ``customer_id`` placing a ``bnpl`` order of ``amount`` CNY;
    fails the test unless the API answers 200."""
    response = httpx.post(
        f"{scorer.base_url}/v1/score",
        json={
            "customer_id": customer_id,
            "order": {"amount": amount, "currency": "CNY", "payment_method": "bnpl"},
        },
        headers=CLIENT,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer
