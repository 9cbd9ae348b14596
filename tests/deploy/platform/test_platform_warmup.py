"""Warm start: a consumer group counts as warm once its members own every partition of
its topics, and a warm-up read counts once the service answered it (below 500)."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator

import pytest

from deploy.platform.warmup import answered, unowned_partitions
from services.common.kafka import ensure_topics, make_consumer
from services.common.settings import ServiceSettings
from services.common.topics import Topic


class _Answers(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        authorised = self.headers.get("Authorization") == "Bearer k"
        status = {"/missing": 404, "/broken": 500}.get(self.path, 200)
        self.send_response(status if authorised else 401)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_any_answer_below_500_is_an_answer(http_port: int) -> None:
    assert answered(http_port, "/ok", "k")
    assert answered(http_port, "/missing", "k")
    assert not answered(http_port, "/broken", "k")
    assert not answered(1, "/ok", "k")


@pytest.mark.integration
async def test_a_group_owns_its_partitions_once_its_consumer_joined(
    service_settings: ServiceSettings,
) -> None:
    await ensure_topics(service_settings)
    topic = service_settings.topics(Topic.SCORES)
    group = f"{service_settings.topic_prefix}warm"
    partitions = service_settings.event_partitions

    assert await unowned_partitions(service_settings, {group: [topic]}) == {group: partitions}

    consumer = make_consumer(service_settings, topic, group_id=group)
    await consumer.start()
    try:
        for _ in range(100):
            await consumer.getmany(timeout_ms=100)
            if len(consumer.assignment()) == partitions:
                break
        unowned = await unowned_partitions(service_settings, {group: [topic]})
        for _ in range(50):
            if unowned == {group: 0}:
                break
            await asyncio.sleep(0.2)
            unowned = await unowned_partitions(service_settings, {group: [topic]})
        assert unowned == {group: 0}
    finally:
        await consumer.stop()
