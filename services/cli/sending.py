"""Sending event batches into the platform, through the gateway (HTTP) or straight to
Kafka; ``riskstream events send``, ``simulate`` and ``demo`` share it. Both paths apply
the same validation (:class:`services.ingest.core.EventGateway`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from itertools import islice
from typing import Any, Protocol, TypeVar

import httpx
import orjson

from services.cli.settings import CliSettings
from services.common.clock import SystemClock
from services.common.kafka import wait_for_kafka
from services.ingest.core import EventGateway
from services.ingest.publisher import KafkaEventPublisher

T = TypeVar("T")


class GatewayError(Exception):
    """The gateway refused a whole batch (authentication, malformed body)."""


class EventSender(Protocol):
    async def send(self, batch: list[Any]) -> list[dict[str, Any]]:
        """Per-event results in order: ``{"index", "event_id", "status", "errors"?}``."""
        ...


class HttpSender:
    def __init__(self, settings: CliSettings, http: httpx.AsyncClient) -> None:
        self._url = f"{settings.ingest_url}/v1/events:batch"
        self._headers = {
            "Authorization": f"Bearer {settings.api_key.get_secret_value()}",
            "Content-Type": "application/json",
        }
        self._http = http

    async def send(self, batch: list[Any]) -> list[dict[str, Any]]:
        response = await self._http.post(
            self._url, content=orjson.dumps({"events": batch}), headers=self._headers
        )
        if response.status_code not in (202, 207, 503):
            raise GatewayError(f"gateway answered {response.status_code}: {response.text[:300]}")
        results: list[dict[str, Any]] = response.json()["results"]
        return results


class KafkaSender:
    def __init__(self, gateway: EventGateway) -> None:
        self._gateway = gateway

    async def send(self, batch: list[Any]) -> list[dict[str, Any]]:
        return [result.as_dict() for result in await self._gateway.submit(batch)]


@asynccontextmanager
async def open_sender(settings: CliSettings, direct: bool) -> AsyncIterator[EventSender]:
    """A sender through the gateway, or with ``direct`` straight to Kafka."""
    if not direct:
        async with httpx.AsyncClient(timeout=30) as http:
            yield HttpSender(settings, http)
        return
    await wait_for_kafka(settings, timeout_s=30)
    publisher = KafkaEventPublisher(settings, timeout_s=10)
    await publisher.start()
    try:
        await publisher.wait_connected(timeout_s=30)
        yield KafkaSender(EventGateway(publisher, settings.topics, SystemClock()))
    finally:
        await publisher.stop()


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


class Pacer:
    """Holds a sender to ``rate`` events per second (None: as fast as it can)."""

    def __init__(self, rate: float | None) -> None:
        self._rate = rate
        self._started: float | None = None
        self._sent = 0

    async def wait(self, count: int) -> None:
        loop = asyncio.get_running_loop()
        if self._started is None:
            self._started = loop.time()
        self._sent += count
        if self._rate:
            ahead = self._started + self._sent / self._rate - loop.time()
            if ahead > 0:
                await asyncio.sleep(ahead)
