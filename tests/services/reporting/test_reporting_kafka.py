"""The report's Kafka source on the session's real broker: only records timestamped in the
period are read, from every partition, without a consumer group."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.kafka import make_producer
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from services.reporting.core import Period, build_report
from services.reporting.sources import read_kafka
from tests.services.reporting.reporting_records import action, audit, score

pytestmark = pytest.mark.integration


async def test_the_period_is_read_back_from_the_topics(service_settings: ServiceSettings) -> None:
    topics = service_settings.topics
    now = datetime.now(UTC).replace(microsecond=0)
    inside = now - timedelta(days=10)
    before = now - timedelta(days=40)
    records = [
        (Topic.SCORES, score("c-old", "A", 0), before),
        (Topic.SCORES, score("c1", "B", 0), inside),
        (Topic.SCORES, score("c2", "D", 0), inside + timedelta(hours=1)),
        (Topic.ACTIONS, action("c2", "freeze_credit", 0), inside + timedelta(hours=2)),
        (Topic.ACTIONS, action("c-old", "freeze_credit", 0), before),
        (Topic.AUDIT, audit("model.activate", "v1", 0), inside),
        (Topic.SCORES, score("c-new", "S", 0), now + timedelta(days=1)),
    ]
    producer = make_producer(service_settings)
    await producer.start()
    try:
        for topic, record, at in records:
            key = getattr(record, "customer_id", "audit").encode()
            await producer.send_and_wait(
                topics(topic),
                record.model_dump_json().encode(),
                key=key,
                timestamp_ms=int(at.timestamp() * 1000),
            )
        await producer.send_and_wait(
            topics(Topic.SCORES),
            b"not a score",
            key=b"c3",
            timestamp_ms=int(inside.timestamp() * 1000),
        )
    finally:
        await producer.stop()

    period = Period(now - timedelta(days=20), now)
    read = await read_kafka(service_settings, period, timeout_s=30)

    assert sorted(s.customer_id for s in read.scores) == ["c1", "c2"]
    assert [a.customer_id for a in read.actions] == ["c2"]
    assert [a.operation for a in read.audit] == ["model.activate"]
    # The records' own instants (fixed by the builders) are outside this period, so the
    # report judges them by a period around those instants.
    whole = Period(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    report = build_report(whole, read.scores, read.actions, read.audit)
    assert report.customers_scored == 2
    assert report.customers_frozen == 1
