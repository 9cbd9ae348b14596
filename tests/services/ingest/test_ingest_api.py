from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from services.common.topics import TopicNames
from services.ingest.api import create_app
from services.ingest.core import EventGateway
from services.ingest.errors import PublishUnavailableError
from services.ingest.settings import IngestSettings
from tests.support.clock import SettableClock

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
CLIENT = {"Authorization": "Bearer dev-client-key"}


class FakePublisher:
    def __init__(self) -> None:
        self.available = True
        self.published: list[tuple[str, bytes]] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def ready(self) -> bool:
        return self.available

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        if not self.available:
            raise PublishUnavailableError("down")
        self.published.append((topic, key))


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
async def client(publisher: FakePublisher) -> AsyncIterator[httpx.AsyncClient]:
    settings = IngestSettings(max_body_bytes=64 * 1024)
    app = create_app(settings, EventGateway(publisher, TopicNames(), SettableClock(NOW)), publisher)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://ingest"
    ) as http:
        yield http


def refund(event_id: str = "f-1", **overrides: object) -> dict[str, object]:
    event: dict[str, object] = {
        "event_id": event_id,
        "event_type": "refund",
        "customer_id": "c-3",
        "occurred_at": "2026-11-27T11:59:00+00:00",
        "order_id": "o-3",
        "refund_id": "rf-3",
        "amount": 12.5,
        "currency": "CNY",
        "reason": "not_received",
        "goods_returned": False,
        "status": "approved",
    }
    event.update(overrides)
    return event


async def test_an_accepted_event_answers_202(
    client: httpx.AsyncClient, publisher: FakePublisher
) -> None:
    response = await client.post("/v1/events", json=refund(), headers=CLIENT)
    assert response.status_code == 202
    assert response.json()["status"] == "accepted"
    assert publisher.published == [("events.refunds", b"c-3")]
    assert response.headers["x-request-id"]


async def test_a_bad_event_answers_422_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/events", json=refund(amount=-3), headers=CLIENT)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "amount"


async def test_a_non_json_body_answers_422_on_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/events", content=b"{nope", headers=CLIENT)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "body"


async def test_kafka_down_answers_503_with_retry_after(
    client: httpx.AsyncClient, publisher: FakePublisher
) -> None:
    publisher.available = False
    response = await client.post("/v1/events", json=refund(), headers=CLIENT)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    ready = await client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"kafka": False}


async def test_no_key_is_401_and_the_body_reveals_nothing(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/events", json=refund())
    assert response.status_code == 401
    assert response.json() == {"error": "unauthenticated", "detail": "a valid API key is required"}


async def test_a_mixed_batch_answers_207_per_event(
    client: httpx.AsyncClient, publisher: FakePublisher
) -> None:
    body = {"events": [refund("a"), refund("b", status="maybe"), refund("c")]}
    response = await client.post("/v1/events:batch", json=body, headers=CLIENT)
    assert response.status_code == 207
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (2, 1)
    assert answer["results"][1]["errors"][0]["field"] == "status"
    assert len(publisher.published) == 2


async def test_a_batch_of_valid_events_answers_202(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/events:batch", json={"events": [refund("a"), refund("b")]}, headers=CLIENT
    )
    assert response.status_code == 202
    assert response.json()["accepted"] == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [({"events": []}, "events"), ({"events": "x"}, "events"), ({"evts": []}, "body"), ([], "body")],
)
async def test_a_malformed_batch_body_is_422(
    client: httpx.AsyncClient, body: object, field: str
) -> None:
    response = await client.post("/v1/events:batch", json=body, headers=CLIENT)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == field


async def test_an_oversize_batch_is_422_on_events(publisher: FakePublisher) -> None:
    app = create_app(
        IngestSettings(), EventGateway(publisher, TopicNames(), SettableClock(NOW)), publisher
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://ingest"
    ) as http:
        body = {"events": [refund(f"e{i}") for i in range(1001)]}
        response = await http.post("/v1/events:batch", json=body, headers=CLIENT)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "events"
    assert publisher.published == []


async def test_an_oversize_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/events", content=b"x" * (65 * 1024), headers=CLIENT)
    assert response.status_code == 413


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.post("/v1/events", json=refund(), headers=CLIENT)
    text = (await client.get("/metrics")).text
    assert 'riskstream_http_requests_total{method="POST",route="/v1/events",status="202"}' in text
    assert 'riskstream_ingest_events_total{outcome="accepted"}' in text


PHONE_HASH = {"kind": "phone", "key_id": "k1", "hash": "ab" * 32}
ONBOARDING = {
    "registration": {"channel": "app", "contact_hashes": [PHONE_HASH]},
    "verification": {"kind": "real_name", "result": "passed", "provider": "kyc-1"},
    "bureau_report": {
        "provider": "sesame",
        "score": 712,
        "scale_min": 350,
        "scale_max": 950,
        "delinquencies": 0,
        "inquiries_6m": 2,
        "fetched_at": "2026-11-27T11:00:00+00:00",
    },
}


def onboarding(event_type: str, **overrides: object) -> dict[str, object]:
    event: dict[str, object] = {
        "event_id": f"{event_type}-1",
        "event_type": event_type,
        "customer_id": "c-9",
        "occurred_at": "2026-11-27T11:59:00+00:00",
        **ONBOARDING[event_type],
    }
    event.update(overrides)
    return event


@pytest.mark.parametrize("event_type", sorted(ONBOARDING))
async def test_onboarding_events_go_to_the_profile_topic(
    client: httpx.AsyncClient, publisher: FakePublisher, event_type: str
) -> None:
    response = await client.post("/v1/events", json=onboarding(event_type), headers=CLIENT)
    assert response.status_code == 202, response.text
    assert publisher.published == [("events.profile", b"c-9")]


@pytest.mark.parametrize(
    ("event_type", "overrides", "field"),
    [
        ("registration", {"channel": "fax"}, "channel"),
        (
            "registration",
            {"contact_hashes": [{**PHONE_HASH, "hash": "+8613800138000"}]},
            "contact_hashes.0.hash",
        ),
        ("registration", {"phone": "+8613800138000"}, "phone"),
        ("verification", {"kind": "fingerprint"}, "kind"),
        ("verification", {"result": "maybe"}, "result"),
        ("bureau_report", {"score": 1200}, "score"),
        ("bureau_report", {"scale_max": 100}, "scale_max"),
        ("bureau_report", {"fetched_at": "2026-11-28T11:00:00+00:00"}, "fetched_at"),
        ("bureau_report", {"inquiries_6m": -1}, "inquiries_6m"),
        ("bureau_report", {"fetched_at": "2026-11-27T11:00:00"}, "fetched_at"),
    ],
)
async def test_a_bad_onboarding_event_answers_422_naming_the_field(
    client: httpx.AsyncClient, event_type: str, overrides: dict[str, object], field: str
) -> None:
    body = onboarding(event_type, **overrides)
    single = await client.post("/v1/events", json=body, headers=CLIENT)
    assert single.status_code == 422
    assert single.json()["detail"][0]["field"] == field
    batch = await client.post("/v1/events:batch", json={"events": [body]}, headers=CLIENT)
    assert batch.json()["results"][0]["errors"][0]["field"] == field
