"""The gateway against the real Kafka the test session starts: accepted events are on their
topic with the customer as key; bad events get 422 naming the field; with Kafka stopped the
gateway answers 503 and never 202."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from deploy.harness import BackingServices, ServiceProcess
from services.common.settings import ServiceSettings
from tests.support.streams import read_records

pytestmark = pytest.mark.integration
CLIENT = {"Authorization": "Bearer dev-client-key"}
NOW = datetime.now(UTC).replace(microsecond=0)


def envelope(event_type: str, event_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": event_type,
        "customer_id": f"cust-{event_id}",
        "occurred_at": (NOW - timedelta(minutes=3)).isoformat(),
        "schema_version": 1,
    }


def valid_events() -> list[dict[str, Any]]:
    return [
        envelope("order", "i-1")
        | {
            "order_id": "o-1",
            "amount": 12.5,
            "currency": "CNY",
            "payment_method": "bnpl",
            "status": "placed",
            "item_count": 1,
            "channel": "web",
        },
        envelope("payment", "i-2")
        | {
            "order_id": "o-1",
            "payment_id": "p-1",
            "amount": 12.5,
            "currency": "CNY",
            "kind": "repayment",
            "status": "succeeded",
            "days_past_due": 0,
        },
        envelope("refund", "i-3")
        | {
            "order_id": "o-1",
            "refund_id": "r-1",
            "amount": 2,
            "currency": "CNY",
            "reason": "defective",
            "goods_returned": True,
            "status": "requested",
        },
        envelope("review", "i-4")
        | {"order_id": "o-1", "review_id": "v-1", "rating": 4, "flagged_abusive": False},
    ]


async def read_topic(
    settings: ServiceSettings, topic: str, expected: int
) -> list[tuple[bytes | None, dict[str, Any]]]:
    """The first ``expected`` records of ``topic`` (fewer after 30 s): key and JSON value."""
    records = await read_records(settings, [topic], lambda read: len(read) >= expected, 30.0)
    return [(record.key, orjson.loads(record.value or b"")) for record in records]


def test_each_event_type_lands_on_its_topic_keyed_by_customer(
    service_settings: ServiceSettings, start_service: Callable[..., ServiceProcess]
) -> None:
    gateway = start_service("ingest")
    for event in valid_events():
        response = httpx.post(
            f"{gateway.base_url}/v1/events", json=event, headers=CLIENT, timeout=10
        )
        assert response.status_code == 202, response.text
    for event in valid_events():
        topic = service_settings.topics.event_topic(event["event_type"])
        records = asyncio.run(read_topic(service_settings, topic, expected=1))
        assert len(records) == 1
        key, value = records[0]
        assert key == event["customer_id"].encode()
        assert value["event_id"] == event["event_id"]
        assert value["event_type"] == event["event_type"]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.pop("order_id"), "order_id"),
        (lambda e: e.update(payment_method="cheque"), "payment_method"),
        (lambda e: e.update(amount=-1), "amount"),
        (lambda e: e.update(occurred_at="2026-11-27T10:00:00"), "occurred_at"),
        (lambda e: e.update(surprise=True), "surprise"),
        (lambda e: e.update(occurred_at=(NOW + timedelta(hours=1)).isoformat()), "occurred_at"),
    ],
)
def test_malformed_events_get_422_naming_the_field(
    start_service: Callable[..., ServiceProcess],
    mutate: Callable[[dict[str, Any]], object],
    field: str,
) -> None:
    gateway = start_service("ingest")
    event = valid_events()[0]
    mutate(event)
    response = httpx.post(f"{gateway.base_url}/v1/events", json=event, headers=CLIENT, timeout=10)
    assert response.status_code == 422
    assert field in {item["field"] for item in response.json()["detail"]}


def test_non_json_and_oversize_batches_get_422(
    start_service: Callable[..., ServiceProcess],
) -> None:
    gateway = start_service("ingest")
    not_json = httpx.post(f"{gateway.base_url}/v1/events", content=b"{", headers=CLIENT, timeout=10)
    assert not_json.status_code == 422
    assert not_json.json()["detail"][0]["field"] == "body"
    oversize = {"events": [valid_events()[3] | {"event_id": f"b-{i}"} for i in range(1001)]}
    response = httpx.post(
        f"{gateway.base_url}/v1/events:batch", json=oversize, headers=CLIENT, timeout=30
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "events"


def test_with_kafka_stopped_the_gateway_answers_503_never_202(
    platform: BackingServices, start_service: Callable[..., ServiceProcess]
) -> None:
    gateway = start_service("ingest", RISKSTREAM_PRODUCE_TIMEOUT_S="2")
    platform.stop_kafka()
    try:
        statuses = [
            httpx.post(
                f"{gateway.base_url}/v1/events",
                json=valid_events()[0] | {"event_id": f"down-{i}"},
                headers=CLIENT,
                timeout=15,
            )
            for i in range(3)
        ]
        assert [r.status_code for r in statuses] == [503, 503, 503]
        assert all(r.headers["retry-after"] for r in statuses)
        assert httpx.get(f"{gateway.base_url}/ready", timeout=5).status_code == 503
    finally:
        platform.start_kafka()
