"""Where the report's records come from: JSONL exports (one record per line, as the topics
carry them) or the ``risk.scores``, ``risk.actions``, ``risk.audit``, ``risk.decisions`` and
``events.payments`` topics themselves.

Kafka is read without a consumer group (nothing is committed, nobody else's offsets move):
each partition is sought to the first offset at or after the period's start
(``offsets_for_times``) and read up to the end offset it had when reading began, stopping
early once a record's timestamp passes the period's end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import orjson
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from pydantic import BaseModel, ValidationError

from schemas.actions import RiskAction
from schemas.decisions import DecisionRecord
from schemas.events import PaymentEvent
from schemas.records import AuditRecord
from schemas.scores import ScoreRecord
from services.common.kafka import describe_topics, make_consumer
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from services.reporting.core import Period
from services.reporting.errors import ReportingError

Record = TypeVar("Record", bound=BaseModel)


def read_jsonl(path: Path, model: type[Record]) -> list[Record]:
    """Every line of ``path`` parsed as ``model`` (blank lines skipped); ReportingError
    naming the line when one is not a valid record."""
    records: list[Record] = []
    try:
        lines = path.read_bytes().splitlines()
    except OSError as error:
        raise ReportingError(f"cannot read {path}: {error}") from error
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(model.model_validate_json(line))
        except ValidationError as error:
            raise ReportingError(f"{path}:{number}: not a {model.__name__}: {error}") from error
    return records


def read_outcomes(path: Path) -> dict[str, datetime | None]:
    """``riskstream simulate --labels`` output: ``{"customer_id": ..., "bad_at": ...}``
    per line, ``bad_at`` an RFC 3339 instant or null."""
    outcomes: dict[str, datetime | None] = {}
    try:
        lines = path.read_bytes().splitlines()
    except OSError as error:
        raise ReportingError(f"cannot read {path}: {error}") from error
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
            bad_at = row["bad_at"]
            outcomes[str(row["customer_id"])] = (
                datetime.fromisoformat(bad_at) if bad_at is not None else None
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise ReportingError(f"{path}:{number}: not an outcome line: {error}") from error
    return outcomes


@dataclass(frozen=True, slots=True)
class PeriodRecords:
    """The records a report is built from."""

    scores: list[ScoreRecord]
    actions: list[RiskAction]
    audit: list[AuditRecord]
    decisions: list[DecisionRecord] = field(default_factory=list)
    payments: list[PaymentEvent] = field(default_factory=list)
    """Payment events from the period's start on (outcomes come after the scores)."""


async def _read_topic(
    settings: ServiceSettings, topic: str, period: Period, timeout_s: float
) -> list[bytes]:
    """The values of ``topic``'s records timestamped within ``period``."""
    start_ms = int(period.start.timestamp() * 1000)
    end_ms = int(period.end.timestamp() * 1000)
    deadline = time.monotonic() + timeout_s
    try:
        count = (await describe_topics(settings)).get(topic)
    except KafkaError as error:
        raise ReportingError(f"cannot describe {topic}: {error}") from error
    if count is None:
        raise ReportingError(f"topic {topic} does not exist")
    partitions = [TopicPartition(topic, p) for p in range(count)]
    consumer = make_consumer(settings, group_id=None)
    values: list[bytes] = []
    try:
        await consumer.start()
        consumer.assign(partitions)
        starts = await consumer.offsets_for_times(dict.fromkeys(partitions, start_ms))
        ends = await consumer.end_offsets(partitions)
        remaining: dict[TopicPartition, int] = {}
        for partition in partitions:
            found = starts.get(partition)
            if found is not None and found.offset < ends[partition]:
                consumer.seek(partition, found.offset)
                remaining[partition] = ends[partition]
        consumer.pause(*(p for p in partitions if p not in remaining))
        while remaining:
            if time.monotonic() > deadline:
                raise ReportingError(f"reading {topic} took longer than {timeout_s:.0f} s")
            batch = await consumer.getmany(timeout_ms=500)
            for partition, messages in batch.items():
                for message in messages:
                    if partition not in remaining:
                        break
                    past_end = message.timestamp >= end_ms
                    if not past_end and message.value is not None:
                        values.append(message.value)
                    if past_end or message.offset + 1 >= remaining[partition]:
                        remaining.pop(partition)
                        consumer.pause(partition)
    except KafkaError as error:
        raise ReportingError(f"cannot read {topic}: {type(error).__name__}: {error}") from error
    finally:
        await consumer.stop()
    return values


def parse_valid(values: list[bytes], model: type[Record]) -> list[Record]:
    """The values that are valid ``model`` records; invalid ones are skipped, as their
    topic's consumers have already sent them to the dead-letter topic."""
    records: list[Record] = []
    for value in values:
        try:
            records.append(model.model_validate_json(value))
        except ValidationError:
            continue
    return records


async def read_kafka(
    settings: ServiceSettings, period: Period, timeout_s: float = 60.0
) -> PeriodRecords:
    """The period's scores, actions, audit records and decisions from Kafka (topic names
    under the settings' prefix)."""
    topics = settings.topics
    scores = await _read_topic(settings, topics(Topic.SCORES), period, timeout_s)
    actions = await _read_topic(settings, topics(Topic.ACTIONS), period, timeout_s)
    audit = await _read_topic(settings, topics(Topic.AUDIT), period, timeout_s)
    decisions = await _read_topic(settings, topics(Topic.DECISIONS), period, timeout_s)
    since_start = Period(period.start, max(period.end, datetime.now(UTC)))
    payments = await _read_topic(settings, topics(Topic.PAYMENTS), since_start, timeout_s)
    return PeriodRecords(
        parse_valid(scores, ScoreRecord),
        parse_valid(actions, RiskAction),
        parse_valid(audit, AuditRecord),
        parse_valid(decisions, DecisionRecord),
        parse_valid(payments, PaymentEvent),
    )
