"""The feature worker against the real Kafka and Redis: every customer's state in Redis
must give exactly the features an offline replay of the same events gives, also after a
worker is killed with SIGKILL mid-stream (alone, or beside a second worker that takes over
its partitions from the changelog), and the vector stored beside it those of the state."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable

import orjson
import pytest

from deploy.harness import ServiceProcess
from services.common.redis_keys import RedisKeys
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from services.features.core import CustomerState, FeatureVector, compute_features, from_us
from tests.support.parity import events_counted, redis_client, wait_for_feature_parity
from tests.support.polling import wait_until
from tests.support.streams import produce, produce_events, read_topics, simulated_events

pytestmark = pytest.mark.integration


def test_kill_9_mid_stream_loses_nothing_and_matches_offline_replay(
    service_settings: ServiceSettings, start_service: Callable[..., ServiceProcess]
) -> None:
    events = simulated_events(customers=1100, seed=11, days=60)
    assert len(events) >= 20_000
    assert len({e.customer_id for e in events}) >= 1000
    half = len(events) // 2
    worker = start_service("features")
    asyncio.run(produce_events(service_settings, events[:half]))
    wait_until(lambda: events_counted(worker) >= half // 3, timeout_s=120)
    worker.kill()
    asyncio.run(produce_events(service_settings, events[half:]))
    worker.start()

    assert wait_for_feature_parity(service_settings, events, timeout_s=240) == []


def test_a_second_worker_takes_over_the_partitions_of_a_killed_one(
    service_settings: ServiceSettings, start_service: Callable[..., ServiceProcess]
) -> None:
    events = simulated_events(customers=1000, seed=12, days=60)
    half = len(events) // 2
    first = start_service("features")
    second = start_service("features")
    asyncio.run(produce_events(service_settings, events[:half]))
    wait_until(lambda: events_counted(first) + events_counted(second) >= half // 2, timeout_s=120)
    first.kill()
    asyncio.run(produce_events(service_settings, events[half:]))

    assert wait_for_feature_parity(service_settings, events, timeout_s=240) == []


def test_bad_records_go_to_the_dead_letter_topic_and_the_stream_goes_on(
    service_settings: ServiceSettings, start_service: Callable[..., ServiceProcess]
) -> None:
    events = simulated_events(customers=5, seed=3, days=60)[:20]
    start_service("features")
    poison = [
        (Topic.ORDERS, b"c-bad", b"\xff\xfe not utf-8"),
        (Topic.PAYMENTS, b"c-bad", b'{"event_id": "x"}'),
        (Topic.REVIEWS, b"c-bad", b"[]"),
        (
            Topic.REFUNDS,
            events[0].customer_id.encode(),
            orjson.dumps(events[0].model_dump(mode="json")),
        ),
    ]

    asyncio.run(
        produce(
            service_settings,
            [(service_settings.topics(topic), key, value) for topic, key, value in poison],
        )
    )
    asyncio.run(produce_events(service_settings, events))
    letters = [
        orjson.loads(value)
        for value in asyncio.run(
            read_topics(
                service_settings,
                [service_settings.topics(Topic.DLQ)],
                lambda read: len(read) >= len(poison),
                timeout_s=60,
            )
        )
    ]
    reasons = {(r["source_topic"], r["reason"]) for r in letters}
    prefix = service_settings.topic_prefix
    wrong_topic = "wrong_topic" if events[0].event_type != "refund" else "schema_violation"
    assert (f"{prefix}events.orders", "invalid_json") in reasons
    assert (f"{prefix}events.payments", "schema_violation") in reasons
    assert (f"{prefix}events.reviews", "schema_violation") in reasons
    assert (f"{prefix}events.refunds", wrong_topic) in reasons
    first = next(r for r in letters if r["reason"] == "invalid_json")
    assert base64.b64decode(str(first["value_b64"])) == b"\xff\xfe not utf-8"
    assert isinstance(first["offset"], int)
    assert isinstance(first["partition"], int)

    assert wait_for_feature_parity(service_settings, events, timeout_s=60) == []


def test_each_state_in_redis_has_beside_it_the_vector_of_its_features(
    service_settings: ServiceSettings, start_service: Callable[..., ServiceProcess]
) -> None:
    events = simulated_events(customers=5, seed=4, days=60)[:30]
    customers = sorted({event.customer_id for event in events})
    start_service("features")
    asyncio.run(produce_events(service_settings, events))
    assert wait_for_feature_parity(service_settings, events, timeout_s=60) == []

    keys = RedisKeys(service_settings.redis_key_prefix)
    client = redis_client(service_settings)
    try:
        stored = client.mget(
            [key for c in customers for key in (keys.feature_state(c), keys.feature_vector(c))]
        )
    finally:
        client.close()
    for state_bytes, vector_bytes in zip(stored[0::2], stored[1::2], strict=True):
        assert state_bytes is not None
        vector = FeatureVector.from_bytes(vector_bytes)
        assert vector is not None
        state = CustomerState.from_bytes(state_bytes)
        assert vector.valid_until_us > vector.as_of_us
        for read_us in (vector.as_of_us, vector.valid_until_us - 1):
            assert vector.features_at(read_us) == compute_features(state, from_us(read_us))
