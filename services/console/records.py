"""What the console reads from the topics, the record of the platform: one customer's
events, scores, actions and audit trail, recent events for a rule backtest, and the audit
records of model operations.

A customer's records are keyed by customer id, so each topic holds them on one partition
(the producers' default partitioner): only that partition is read, from at most
``records_scanned`` records before its end, without a consumer group (nothing committed).

Score history comes from ``risk.scores`` until the decision log (``risk.decisions``,
``GET /v1/decisions/{id}``) is there: :class:`ScoreHistory` is the seam to switch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from pydantic import ValidationError

from schemas.actions import RiskAction
from schemas.events import InboundEvent, parse_trusted_event
from schemas.records import AuditRecord
from schemas.scores import ScoreRecord
from services.common.kafka import describe_topics, make_consumer
from services.common.topics import EVENT_TOPICS, Topic
from services.console.errors import UpstreamError
from services.console.settings import ConsoleSettings
from services.reporting.sources import parse_valid

READ_TIMEOUT_S = 20.0
"""Longest wait without a record before a read gives up on the partitions left."""


@dataclass(slots=True)
class CustomerRecords:
    """A customer's recent records, oldest first."""

    events: list[dict[str, Any]] = field(default_factory=list)
    scores: list[ScoreRecord] = field(default_factory=list)
    actions: list[RiskAction] = field(default_factory=list)
    audit: list[AuditRecord] = field(default_factory=list)


class ScoreHistory(Protocol):
    """A customer's scores with the model version and frozen reason codes of each."""

    async def customer(self, customer_id: str) -> CustomerRecords: ...


class KafkaRecords:
    """Reads the platform's topics (the :class:`ScoreHistory` of today)."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self._settings = settings
        self._partitioner = DefaultPartitioner()

    async def _read(
        self, wanted: dict[str, int | None], scan: int, key: bytes | None
    ) -> dict[str, list[bytes]]:
        """The values of each topic's records (of ``key``'s partition, or every partition
        when ``key`` is None), at most ``scan`` per partition back from its end."""
        try:
            counts = await describe_topics(self._settings)
        except KafkaError as error:
            raise UpstreamError(503, "kafka_unreachable", str(error)) from error
        partitions: dict[TopicPartition, str] = {}
        for name in wanted:
            count = counts.get(name)
            if not count:
                continue
            numbers = (
                range(count)
                if key is None
                else [self._partitioner(key, list(range(count)), list(range(count)))]
            )
            for number in numbers:
                partitions[TopicPartition(name, number)] = name
        found: dict[str, list[bytes]] = {name: [] for name in wanted}
        if not partitions:
            return found
        consumer = make_consumer(self._settings, group_id=None)
        try:
            await consumer.start()
            await _read_partitions(consumer, partitions, scan, key, found)
        except KafkaError as error:
            raise UpstreamError(503, "kafka_unreachable", str(error)) from error
        finally:
            await consumer.stop()
        return found

    async def customer(self, customer_id: str) -> CustomerRecords:
        topics = self._settings.topics
        event_topics = [topics(topic) for topic in EVENT_TOPICS.values()]
        scores, actions, audit = topics(Topic.SCORES), topics(Topic.ACTIONS), topics(Topic.AUDIT)
        keyed = await self._read(
            dict.fromkeys([*event_topics, scores, actions], None),
            self._settings.records_scanned,
            customer_id.encode(),
        )
        trail = await self._read({audit: None}, self._settings.records_scanned, None)
        records = CustomerRecords()
        for name in event_topics:
            records.events.extend(_json_objects(keyed[name]))
        records.events.sort(key=lambda event: str(event.get("occurred_at", "")))
        records.scores = sorted(parse_valid(keyed[scores], ScoreRecord), key=lambda s: s.scored_at)
        records.actions = sorted(parse_valid(keyed[actions], RiskAction), key=lambda a: a.issued_at)
        records.audit = [
            a for a in parse_valid(trail[audit], AuditRecord) if a.subject == customer_id
        ]
        return records

    async def recent_events(self) -> list[InboundEvent]:
        """The most recent events of every event topic (``backtest_events`` per partition)."""
        topics = self._settings.topics
        names = [topics(topic) for topic in EVENT_TOPICS.values()]
        found = await self._read(dict.fromkeys(names, None), self._settings.backtest_events, None)
        events: list[InboundEvent] = []
        for name in names:
            for value in found[name]:
                try:
                    events.append(parse_trusted_event(value))
                except ValidationError:
                    continue
        return events

    async def audit_trail(self, prefixes: Iterable[str]) -> list[AuditRecord]:
        """Recent audit records whose operation starts with one of ``prefixes``, newest
        first."""
        audit = self._settings.topics(Topic.AUDIT)
        found = await self._read({audit: None}, self._settings.records_scanned, None)
        wanted = tuple(prefixes)
        records = [
            a for a in parse_valid(found[audit], AuditRecord) if a.operation.startswith(wanted)
        ]
        return sorted(records, key=lambda a: a.at, reverse=True)


async def _read_partitions(
    consumer: AIOKafkaConsumer,
    partitions: dict[TopicPartition, str],
    scan: int,
    key: bytes | None,
    found: dict[str, list[bytes]],
) -> None:
    assigned = list(partitions)
    consumer.assign(assigned)
    starts = await consumer.beginning_offsets(assigned)
    ends = await consumer.end_offsets(assigned)
    remaining: dict[TopicPartition, int] = {}
    for partition in assigned:
        if ends[partition] > starts[partition]:
            consumer.seek(partition, max(starts[partition], ends[partition] - scan))
            remaining[partition] = ends[partition]
    consumer.pause(*(p for p in assigned if p not in remaining))
    idle_s = 0.0
    while remaining and idle_s < READ_TIMEOUT_S:
        batch = await consumer.getmany(timeout_ms=500, max_records=5000)
        idle_s = 0.0 if batch else idle_s + 0.5
        for partition, messages in batch.items():
            for message in messages:
                if message.value is not None and (key is None or message.key == key):
                    found[partitions[partition]].append(message.value)
                if message.offset + 1 >= remaining.get(partition, 0):
                    remaining.pop(partition, None)
                    consumer.pause(partition)
                    break


def _json_objects(values: list[bytes]) -> list[dict[str, Any]]:
    objects = []
    for value in values:
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            continue
        if isinstance(parsed, dict):
            objects.append(parsed)
    return objects
