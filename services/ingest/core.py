"""The ingest use case: validate inbound events and publish each to its topic, keyed by
customer. The HTTP routes and the ``riskstream events send --direct`` command both call
:class:`EventGateway`, so the rules cannot differ between them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import orjson
from pydantic import ValidationError

from schemas.common import field_errors
from schemas.events import EVENT_MODELS, InboundEvent, parse_event
from services.common.clock import Clock
from services.ingest.errors import PublishUnavailableError


class EventPublisher(Protocol):
    """Publishes one record and returns once the broker acknowledged it; raises
    :class:`PublishUnavailableError` when it could not."""

    async def publish(self, topic: str, key: bytes, value: bytes) -> None: ...


class TopicResolver(Protocol):
    def event_topic(self, event_type: str) -> str: ...


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class EventResult:
    """What happened to one submitted event. ``errors`` name the field and the reason."""

    index: int
    event_id: str | None
    outcome: Outcome
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "index": self.index,
            "event_id": self.event_id,
            "status": self.outcome,
        }
        if self.errors:
            body["errors"] = self.errors
        return body


def _event_id_of(raw: Any) -> str | None:
    if isinstance(raw, dict):
        value = raw.get("event_id")
        return value if isinstance(value, str) else None
    return None


class EventGateway:
    """Validates and publishes events. One event or many, the same rules apply."""

    def __init__(self, publisher: EventPublisher, topics: TopicResolver, clock: Clock) -> None:
        self._publisher = publisher
        self._topics = topics
        self._clock = clock

    def validate(self, raw: Any, index: int = 0) -> InboundEvent | EventResult:
        """The parsed event, or a REJECTED result naming each bad field."""
        if not isinstance(raw, dict):
            return EventResult(
                index,
                None,
                Outcome.REJECTED,
                [{"field": "body", "reason": "an event must be a JSON object"}],
            )
        try:
            return parse_event(raw, now=self._clock.now())
        except ValidationError as error:
            return EventResult(
                index,
                _event_id_of(raw),
                Outcome.REJECTED,
                field_errors(error.errors(), union_tags=frozenset(EVENT_MODELS)),
            )

    async def _publish(self, index: int, event: InboundEvent) -> EventResult:
        value = orjson.dumps(event.model_dump(mode="json"))
        try:
            await self._publisher.publish(
                self._topics.event_topic(event.event_type), event.customer_id.encode(), value
            )
        except PublishUnavailableError:
            return EventResult(index, event.event_id, Outcome.UNAVAILABLE)
        return EventResult(index, event.event_id, Outcome.ACCEPTED)

    async def submit(self, raw_events: Sequence[Any]) -> list[EventResult]:
        """Validates every event, publishes the valid ones concurrently and answers per
        event, in submission order. An event is ACCEPTED only once Kafka acknowledged it."""
        results: list[EventResult | None] = [None] * len(raw_events)
        pending: list[asyncio.Task[EventResult]] = []
        for index, raw in enumerate(raw_events):
            checked = self.validate(raw, index)
            if isinstance(checked, EventResult):
                results[index] = checked
            else:
                pending.append(asyncio.create_task(self._publish(index, checked)))
        for published in await asyncio.gather(*pending):
            results[published.index] = published
        return [result for result in results if result is not None]
