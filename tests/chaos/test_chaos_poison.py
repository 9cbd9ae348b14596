"""A poison record on every consumed topic, with the whole pipeline running: each consumer
sends it to ``events.dlq`` with the reason, where it came from and its original bytes, and
goes on; a valid event produced after the poison still becomes a feature update and a
score."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy.harness import ServiceProcess
from schemas.records import DeadLetterRecord
from schemas.scores import ScoreRecord
from services.common.settings import ServiceSettings
from services.common.topics import FEATURE_SOURCE_TOPICS, Topic
from tests.services.scorer.scorer_bundles import build_bundle
from tests.support.streams import produce, produce_events, read_topics, simulated_events

pytestmark = pytest.mark.integration

INVALID_UTF8 = b'{"event_id": "\xff\xfe", "customer_id": "\xc3\x28"}'


async def test_every_consumer_dead_letters_poison_and_goes_on(
    service_settings: ServiceSettings,
    start_service: Callable[..., ServiceProcess],
    tmp_path: Path,
) -> None:
    bundle = build_bundle(tmp_path / "bundle", "poison-v1")
    for service, env in (
        ("features", {}),
        (
            "scorer",
            {
                "RISKSTREAM_DEFAULT_BUNDLE": str(bundle),
                "RISKSTREAM_MODEL_REGISTRY_DIR": str(tmp_path / "registry"),
            },
        ),
        ("warning", {}),
    ):
        await asyncio.to_thread(start_service, service, **env)
    topics = service_settings.topics
    consumed = [*FEATURE_SOURCE_TOPICS, Topic.FEATURE_UPDATES, Topic.SCORES]
    poison = {
        topics(topic): (f"p-{number}".encode(), INVALID_UTF8 + str(number).encode())
        for number, topic in enumerate(consumed)
    }
    await produce(service_settings, ((t, key, value) for t, (key, value) in poison.items()))
    (event,) = simulated_events(customers=1, seed=41)[:1]
    await produce_events(service_settings, [event])

    letters = [
        DeadLetterRecord.model_validate_json(v)
        for v in await read_topics(
            service_settings,
            [topics(Topic.DLQ)],
            lambda values: len(values) >= len(poison),
            timeout_s=90,
        )
    ]
    scores = [
        ScoreRecord.model_validate_json(v)
        for v in await read_topics(
            service_settings,
            [topics(Topic.SCORES)],
            lambda values: any(event.event_id.encode() in v for v in values),
            timeout_s=60,
        )
        if v != poison[topics(Topic.SCORES)][1]
    ]

    by_topic = {letter.source_topic: letter for letter in letters}
    assert set(by_topic) == set(poison)
    assert len(letters) == len(poison)
    for topic, (key, value) in poison.items():
        letter = by_topic[topic]
        assert base64.b64decode(letter.value_b64) == value
        assert letter.key == key.decode()
        assert letter.reason in {"invalid_json", "schema_violation"}
        assert letter.detail
        assert (letter.partition, letter.offset) >= (0, 0)
    assert {by_topic[topics(t)].service for t in FEATURE_SOURCE_TOPICS} == {"features"}
    assert by_topic[topics(Topic.FEATURE_UPDATES)].service == "scorer"
    assert by_topic[topics(Topic.SCORES)].service == "warning"
    assert [s.triggered_by for s in scores] == [event.event_id]
    assert scores[0].customer_id == event.customer_id
