"""The event gateway across a Kafka broker restart in the middle of a stream: while the
broker is away it answers 503 (never 202), it accepts again once the broker is back, and
every event it answered 202 for is in its topic, keyed by its customer."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import httpx
import orjson
import pytest
from aiokafka import ConsumerRecord

from deploy.harness import BackingServices, ServiceProcess
from services.common.settings import ServiceSettings
from services.common.topics import EVENT_TOPICS
from tests.support.streams import read_records, simulated_events

pytestmark = pytest.mark.integration

CLIENT = {"Authorization": "Bearer dev-client-key"}
SENDERS = 4
PAUSE_S = 0.02
"""Each sender's pause between requests: the stream must outlast the broker's restart."""


async def test_a_broker_restart_mid_stream_answers_503_meanwhile_and_loses_no_accepted_event(
    platform: BackingServices,
    service_settings: ServiceSettings,
    start_service: Callable[..., ServiceProcess],
) -> None:
    gateway = await asyncio.to_thread(start_service, "ingest", RISKSTREAM_PRODUCE_TIMEOUT_S="1")
    events = [e.model_dump(mode="json") for e in simulated_events(customers=120, seed=31)][:800]
    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    for event in events:
        queue.put_nowait(event)
    statuses: Counter[int] = Counter()
    accepted: dict[str, tuple[str, str]] = {}
    restarted_at: list[float] = []
    accepted_after_restart: list[float] = []
    stream_flowing = asyncio.Event()

    async def send(http: httpx.AsyncClient) -> None:
        while len(accepted) < len(events):
            try:
                event = queue.get_nowait()
            except asyncio.QueueEmpty:
                await asyncio.sleep(0.05)
                continue
            response = await http.post("/v1/events", json=event)
            statuses[response.status_code] += 1
            if response.status_code == 202:
                accepted[str(event["event_id"])] = (
                    str(event["event_type"]),
                    str(event["customer_id"]),
                )
                if restarted_at:
                    accepted_after_restart.append(time.monotonic())
                if len(accepted) >= 50:
                    stream_flowing.set()
            else:
                queue.put_nowait(event)  # a client retries what was not accepted
            await asyncio.sleep(PAUSE_S)

    async def restart_broker() -> None:
        await stream_flowing.wait()
        await asyncio.to_thread(platform.restart_kafka)
        restarted_at.append(time.monotonic())

    async with httpx.AsyncClient(base_url=gateway.base_url, headers=CLIENT, timeout=15) as http:
        await asyncio.wait_for(
            asyncio.gather(restart_broker(), *(send(http) for _ in range(SENDERS))), timeout=180
        )

    assert set(statuses) == {202, 503}
    assert statuses[202] == len(events)
    # Accepting resumes within seconds of the broker answering again.
    assert accepted_after_restart
    assert accepted_after_restart[0] - restarted_at[0] < 20

    topics = [service_settings.topics(topic) for topic in EVENT_TOPICS.values()]

    def all_arrived(records: list[ConsumerRecord[bytes, bytes]]) -> bool:
        return {orjson.loads(r.value or b"")["event_id"] for r in records} >= set(accepted)

    stored = await read_records(service_settings, topics, all_arrived, timeout_s=60)
    found: dict[str, tuple[str, str]] = {}
    for record in stored:
        event = orjson.loads(record.value or b"")
        assert record.topic == service_settings.topics.event_topic(event["event_type"])
        assert record.key == event["customer_id"].encode()
        found[event["event_id"]] = (event["event_type"], event["customer_id"])
    assert {event_id: found.get(event_id) for event_id in accepted} == accepted
