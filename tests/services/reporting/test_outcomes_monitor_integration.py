"""The outcomes monitor (``python -m services.reporting``) on the real Kafka: scores and
payments in, and on ``/metrics`` each cohort's realised bad rate beside the predicted PD,
with the gauge that says when a cell left its calibrated band."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from deploy.harness import ServiceProcess
from schemas.events import PaymentEvent
from schemas.scores import Grade, ScoreRecord
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from tests.support.streams import produce

pytestmark = pytest.mark.integration
CUSTOMERS_PER_GRADE = 40


def scored(customer_id: str, grade: Grade, at: datetime) -> ScoreRecord:
    return ScoreRecord(
        score_id=f"s-{customer_id}",
        customer_id=customer_id,
        score=640 if grade == "A" else 600,
        probability_of_default=0.05,
        grade=grade,
        risk_level="green",
        credit_limit=5000.0,
        reasons=[],
        model_version="v1",
        feature_schema_version=2,
        features={},
        features_as_of=at,
        triggered_by=f"e-{customer_id}",
        scored_at=at,
    )


def chargeback(customer_id: str, at: datetime) -> PaymentEvent:
    return PaymentEvent.model_validate(
        {
            "event_id": f"cb-{customer_id}",
            "event_type": "payment",
            "customer_id": customer_id,
            "occurred_at": at,
            "order_id": f"o-{customer_id}",
            "payment_id": f"p-{customer_id}",
            "amount": 120,
            "currency": "CNY",
            "kind": "chargeback",
            "status": "succeeded",
        }
    )


def gauge(metrics: str, name: str, cohort: str, grade: str) -> float | None:
    found = re.search(
        rf'^riskstream_outcomes_{name}{{cohort="{cohort}",grade="{grade}"}} (\S+)$',
        metrics,
        re.MULTILINE,
    )
    return float(found.group(1)) if found else None


async def test_realised_bad_rates_and_the_band_gauge_are_served_from_the_topics(
    service_settings: ServiceSettings, start_service: Callable[..., ServiceProcess]
) -> None:
    monitor = await asyncio.to_thread(
        start_service, "reporting", RISKSTREAM_OUTCOMES_REFRESH_S="0.5"
    )
    scored_at = datetime.now(UTC) - timedelta(days=45)
    cohort = scored_at.strftime("%Y-%m")
    topics = service_settings.topics
    # Grade A goes bad as predicted (2 of 40); grade B far above its 5 % (20 of 40).
    customers = {
        grade: [f"{grade.lower()}-{n}" for n in range(CUSTOMERS_PER_GRADE)] for grade in "AB"
    }
    gone_bad = [*customers["A"][:2], *customers["B"][:20]]
    await produce(
        service_settings,
        [
            *(
                (
                    topics(Topic.SCORES),
                    c.encode(),
                    scored(c, grade, scored_at).model_dump_json().encode(),
                )
                for grade, members in customers.items()
                for c in members
            ),
            *(
                (
                    topics(Topic.PAYMENTS),
                    c.encode(),
                    chargeback(c, scored_at + timedelta(days=10)).model_dump_json().encode(),
                )
                for c in gone_bad
            ),
            (topics(Topic.PAYMENTS), b"x", b"not a payment: skipped"),
        ],
    )

    async with httpx.AsyncClient(base_url=monitor.base_url) as http:
        metrics = ""

        async def fetch() -> None:
            nonlocal metrics
            metrics = (await http.get("/metrics")).text

        async def both_cells_counted() -> bool:
            await fetch()
            return (
                gauge(metrics, "realised_bad_rate", cohort, "B") == 0.5
                and gauge(metrics, "realised_bad_rate", cohort, "A") == 0.05
            )

        deadline = asyncio.get_running_loop().time() + 60
        while not await both_cells_counted():
            assert asyncio.get_running_loop().time() < deadline, metrics[-2000:]
            await asyncio.sleep(0.5)

    assert gauge(metrics, "customers", cohort, "B") == CUSTOMERS_PER_GRADE
    assert gauge(metrics, "predicted_pd", cohort, "B") == pytest.approx(0.05)
    assert gauge(metrics, "outside_band", cohort, "B") == 1.0
    assert gauge(metrics, "outside_band", cohort, "A") == 0.0
    lower, upper = (gauge(metrics, f"band_{side}", cohort, "A") for side in ("lower", "upper"))
    assert lower is not None
    assert upper is not None
    assert lower <= 0.05 <= upper
    assert gauge(metrics, "mature", cohort, "B") == 0.0  # 45 days on book of the 90-day horizon
