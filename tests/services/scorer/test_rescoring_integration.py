"""The dormant-customer scheduler on the real Kafka and Redis, with the warning service as
a process: a customer whose failed payments required prepayment, and who then stopped
trading, has the restriction lifted by the scheduler's daily re-scores alone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import redis

from deploy.harness import ServiceProcess
from riskmodel.loading import LoadedModel, open_bundle
from schemas.actions import RiskAction
from schemas.features import FEATURE_SCHEMA, to_model_row
from schemas.records import AuditRecord
from schemas.scores import ScoreRecord
from services.common.redis_client import make_redis
from services.common.redis_keys import RedisKeys
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from services.features.core import compute_features
from services.scorer.core import run_instant, score_rows, scored_record
from services.scorer.metrics import RESCORE_RUNS
from services.scorer.producer import KafkaControlPublisher, KafkaSink
from services.scorer.rescoring import Rescheduler, partition_of
from services.scorer.settings import ScorerSettings
from services.scorer.store import RedisFeatureStore
from tests.services.scorer.scorer_bundles import build_bundle
from tests.support.clock import SettableClock
from tests.support.events import Events, build_state
from tests.support.polling import wait_until
from tests.support.stores import mark_store_complete
from tests.support.streams import produce, read_topic_until

pytestmark = pytest.mark.integration

CLIENT = {"Authorization": "Bearer dev-client-key"}
CUSTOMER = "dormant-1"


class _Models:
    def __init__(self, model: LoadedModel) -> None:
        self._model = model

    def champion(self) -> LoadedModel:
        return self._model

    def challenger(self) -> None:
        return None


def _risk(warning: ServiceProcess) -> dict[str, Any]:
    answer = httpx.get(f"{warning.base_url}/v1/customers/{CUSTOMER}/risk", headers=CLIENT)
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


async def test_a_recovered_dormant_customer_is_released_by_the_scheduler_alone(
    start_service: Callable[..., ServiceProcess],
    service_settings: ServiceSettings,
    tmp_path: Path,
) -> None:
    warning = start_service("warning")
    settings = ScorerSettings(
        **{
            name: getattr(service_settings, name)
            for name in ServiceSettings.model_fields
            if name != "service_name"
        }
    )
    model = open_bundle(build_bundle(tmp_path / "bundle", "v1", bias=-6.0), FEATURE_SCHEMA)

    # Three failed payments among twenty in one day, then nothing more.
    last_event = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
    events = Events()
    history = [events.order(last_event - timedelta(hours=2), "o1", customer_id=CUSTOMER)]
    history += [
        events.payment(
            last_event - timedelta(minutes=60 - i),
            "o1",
            status="failed" if i < 3 else "succeeded",
            customer_id=CUSTOMER,
        )
        for i in range(20)
    ]
    state = build_state(*history, customer_id=CUSTOMER)
    mark_store_complete(service_settings)
    keys = RedisKeys(service_settings.redis_key_prefix)
    client = redis.Redis.from_url(service_settings.redis_url.get_secret_value())
    client.set(keys.feature_state(CUSTOMER), state.to_bytes())
    client.close()

    # The score its last event got: prepayment is required.
    features = compute_features(state, last_event)
    (verdict,) = score_rows(model, np.asarray([to_model_row(features)], dtype=np.float64))
    assert verdict is not None
    assert verdict.assessment.grade == "B"
    streamed = scored_record(
        customer_id=CUSTOMER,
        verdict=verdict,
        model_version=model.version,
        feature_schema_version=FEATURE_SCHEMA.version,
        features=features,
        features_as_of=last_event,
        triggered_by="last-event",
        trigger_event_type="payment",
        event_occurred_at=last_event,
        scored_at=last_event + timedelta(seconds=1),
        locale="en",
    )
    scores_topic = service_settings.topics(Topic.SCORES)
    await produce(
        service_settings,
        [(scores_topic, CUSTOMER.encode(), streamed.model_dump_json().encode())],
    )
    wait_until(lambda: _risk(warning)["prepayment_required"], what="prepayment required")

    clock = SettableClock()
    partition = partition_of(CUSTOMER, settings.event_partitions)
    sink = KafkaSink(settings, timeout_s=10.0)
    await sink.start()
    await sink.connected.wait()
    async_redis = make_redis(settings, timeout_ms=2000)
    scheduler = Rescheduler(
        settings,
        async_redis,
        keys,
        RedisFeatureStore(async_redis, keys, settings.event_partitions),
        _Models(model),
        sink,
        KafkaControlPublisher(sink, settings),
        clock,
        lambda: frozenset(range(settings.event_partitions)),
    )
    others = Rescheduler(
        settings,
        async_redis,
        keys,
        RedisFeatureStore(async_redis, keys, settings.event_partitions),
        _Models(model),
        sink,
        KafkaControlPublisher(sink, settings),
        clock,
        frozenset,
    )
    completed_before = RESCORE_RUNS.labels("completed")._value.get()
    try:
        first_day = last_event.date() + timedelta(days=2)
        clock.current = run_instant(first_day, partition, settings.event_partitions)
        first = {run.partition: run for run in await scheduler.run_due()}
        assert first[partition].rescored == 1
        assert sum(run.rescored for run in first.values()) == 1
        assert await others.run_due() == []  # an instance holding no partition does nothing
        assert await scheduler.run_due() == []  # the day is done
        # The exit condition holds from the first re-score; 48 hours later it lifts.
        third_day = first_day + timedelta(days=2)
        clock.current = run_instant(third_day, partition, settings.event_partitions)
        third = {run.partition: run for run in await scheduler.run_due()}
        assert third[partition].rescored == 1
        wait_until(lambda: not _risk(warning)["prepayment_required"], what="prepayment lifted")
        assert _risk(warning)["status"] == "active"
        # The same day again (a lost marker, another instance): the same score and ids.
        again = await scheduler.run_partition(partition, third_day)
        assert again.rescored == 1
    finally:
        await sink.stop()
        await async_redis.aclose()
    assert RESCORE_RUNS.labels("completed")._value.get() >= completed_before + 2

    scores = [
        ScoreRecord.model_validate_json(v)
        for v in await read_topic_until(service_settings, Topic.SCORES, lambda v: len(v) >= 4)
    ]
    rescores = [s for s in scores if s.triggered_by.startswith("rescore:")]
    assert [s.triggered_by for s in rescores] == [
        f"rescore:{first_day.isoformat()}:{CUSTOMER}",
        *[f"rescore:{third_day.isoformat()}:{CUSTOMER}"] * 2,
    ]
    assert rescores[1] == rescores[2]
    assert rescores[0].features["payments_failed_24h"] == 0
    actions = [
        RiskAction.model_validate_json(v)
        for v in await read_topic_until(
            service_settings,
            Topic.ACTIONS,
            lambda v: any(b'"restore_limit"' in x for x in v),
        )
    ]
    lifted = [a for a in actions if a.action == "restore_limit"]
    assert [a.triggered_by for a in lifted] == [rescores[1].triggered_by]
    runs = [
        AuditRecord.model_validate_json(v)
        for v in await read_topic_until(
            service_settings,
            Topic.AUDIT,
            lambda v: sum(b"rescore.run" in x for x in v) >= 3,
        )
    ]
    mine = [r for r in runs if r.operation == "rescore.run" and r.details["rescored"]]
    assert [r.details["day"] for r in mine] == [
        first_day.isoformat(),
        third_day.isoformat(),
        third_day.isoformat(),
    ]
    wait_until(
        lambda: (
            'riskstream_warning_scores_total{outcome="duplicate"} 1.0'
            in httpx.get(f"{warning.base_url}/metrics").text
        ),
        what="the repeated re-score recognised",
    )
