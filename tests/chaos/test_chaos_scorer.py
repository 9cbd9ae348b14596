"""The score service under faults: a streaming scorer killed with SIGKILL mid-stream loses
no score, Redis restarted under the score API gives fallbacks and then model answers again,
and a Redis that stops answering (SIGSTOP) never holds a request past its budget nor mixes
up answers once it resumes."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.harness import BackingServices, ServiceProcess
from schemas.features import FEATURE_SCHEMA, FeatureUpdate
from schemas.scores import ScoreRecord
from services.common.redis_keys import RedisKeys
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from services.features.core import compute_features
from services.scorer.core import score_id_of
from tests.services.scorer.scorer_bundles import build_bundle, customer_state
from tests.support.parity import redis_client
from tests.support.polling import wait_until
from tests.support.stores import mark_store_complete
from tests.support.streams import produce, read_topics

pytestmark = pytest.mark.integration

CLIENT = {"Authorization": "Bearer dev-client-key"}
MODEL_VERSION = "chaos-v1"


@pytest.fixture
def scorer_env(tmp_path: Path) -> dict[str, str]:
    bundle = build_bundle(tmp_path / "bundle", MODEL_VERSION, bias=-2.0)
    return {
        "RISKSTREAM_MODEL_REGISTRY_DIR": str(tmp_path / "registry"),
        "RISKSTREAM_DEFAULT_BUNDLE": str(bundle),
        "RISKSTREAM_LOG_LEVEL": "WARNING",
    }


def feature_updates(customers: int, per_customer: int, tag: str) -> list[FeatureUpdate]:
    """Updates with distinct triggers, customers interleaved as a live stream has them."""
    now = datetime.now(UTC)
    updates = []
    for round_ in range(per_customer):
        for number in range(customers):
            customer = f"{tag}-{number}"
            state = customer_state(customer, now, failed_payments=(number + round_) % 4)
            updates.append(
                FeatureUpdate(
                    customer_id=customer,
                    feature_schema_version=FEATURE_SCHEMA.version,
                    as_of=now,
                    features=compute_features(state, now),
                    triggered_by=f"{customer}-event-{round_}",
                    trigger_event_type="payment",
                    event_occurred_at=now,
                )
            )
    return updates


async def produce_updates(settings: ServiceSettings, updates: list[FeatureUpdate]) -> None:
    topic = settings.topics(Topic.FEATURE_UPDATES)
    await produce(
        settings, ((topic, u.customer_id.encode(), u.model_dump_json().encode()) for u in updates)
    )


def score_ids(values: list[bytes]) -> set[str]:
    return {ScoreRecord.model_validate_json(v).score_id for v in values}


def test_a_streaming_scorer_killed_mid_stream_loses_no_score(
    service_settings: ServiceSettings,
    start_service: Callable[..., ServiceProcess],
    scorer_env: dict[str, str],
) -> None:
    first = feature_updates(customers=300, per_customer=3, tag="k")
    second = feature_updates(customers=300, per_customer=1, tag="late")
    expected = {score_id_of(u.triggered_by, MODEL_VERSION) for u in first + second}
    scores_topic = service_settings.topics(Topic.SCORES)
    # Small batches commit often, so the kill lands between commits of a running stream.
    scorer = start_service("scorer", RISKSTREAM_STREAM_BATCH_MAX="10", **scorer_env)
    asyncio.run(produce_updates(service_settings, first))
    scored_before_kill = asyncio.run(
        read_topics(service_settings, [scores_topic], lambda v: len(v) >= 50, timeout_s=60)
    )
    scorer.kill()
    assert len(scored_before_kill) >= 50
    asyncio.run(produce_updates(service_settings, second))
    scorer.start()

    values = asyncio.run(
        read_topics(
            service_settings, [scores_topic], lambda v: score_ids(v) >= expected, timeout_s=120
        )
    )
    records = [ScoreRecord.model_validate_json(v) for v in values]
    assert score_ids(values) == expected
    # A redelivered update may be scored twice, always with the same id and the same score.
    by_id: dict[str, set[int]] = {}
    for record in records:
        by_id.setdefault(record.score_id, set()).add(record.score)
    assert all(len(scores) == 1 for scores in by_id.values())
    assert {r.model_version for r in records} == {MODEL_VERSION}


def store_states(settings: ServiceSettings, states: dict[str, int]) -> None:
    """Feature state for each customer, with that many failed payments."""
    mark_store_complete(settings)
    keys = RedisKeys(settings.redis_key_prefix)
    now = datetime.now(UTC)
    client = redis_client(settings)
    try:
        for customer, failures in states.items():
            client.set(
                keys.feature_state(customer),
                customer_state(customer, now, failed_payments=failures).to_bytes(),
            )
    finally:
        client.close()


def score(base_url: str, customer_id: str) -> tuple[float, dict[str, Any]]:
    """Seconds the answer took, and the answer."""
    started = time.perf_counter()
    response = httpx.post(
        f"{base_url}/v1/score",
        json={
            "customer_id": customer_id,
            "order": {"amount": 80, "currency": "CNY", "payment_method": "bnpl"},
        },
        headers=CLIENT,
        timeout=10.0,
    )
    assert response.status_code == 200
    return time.perf_counter() - started, response.json()


def test_redis_restart_gives_fallbacks_then_model_answers_again(
    service_settings: ServiceSettings,
    start_service: Callable[..., ServiceProcess],
    scorer_env: dict[str, str],
    platform: BackingServices,
) -> None:
    scorer = start_service("scorer", **scorer_env)
    store_states(service_settings, {"steady": 2})
    _, before = score(scorer.base_url, "steady")

    platform.stop_redis()
    try:
        during = [score(scorer.base_url, "steady")[1] for _ in range(3)]
        ready_during = httpx.get(f"{scorer.base_url}/ready").status_code
    finally:
        platform.start_redis()

    def model_answers_again() -> bool:
        return score(scorer.base_url, "steady")[1]["fallback"] is False

    wait_until(model_answers_again, timeout_s=15, what="model answers after Redis restart")
    _, after = score(scorer.base_url, "steady")
    assert (before["fallback"], before["fallback_reason"]) == (False, None)
    assert {(a["fallback"], a["fallback_reason"]) for a in during} == {(True, "redis_unavailable")}
    # A credit order in fallback is never approved: the scorer cannot see a freeze.
    assert {a["decision"] for a in during} == {"review"}
    assert ready_during == 503
    assert httpx.get(f"{scorer.base_url}/ready").status_code == 200
    assert (after["score"], after["reasons"]) == (before["score"], before["reasons"])


def test_a_paused_redis_costs_at_most_the_budget_and_answers_stay_with_their_customer(
    service_settings: ServiceSettings,
    start_service: Callable[..., ServiceProcess],
    scorer_env: dict[str, str],
) -> None:
    budget_ms = 50
    scorer = start_service("scorer", RISKSTREAM_REDIS_BUDGET_MS=str(budget_ms), **scorer_env)
    customers = {"calm": 0, "shaky": 3}
    store_states(service_settings, customers)
    baseline = {c: score(scorer.base_url, c)[1] for c in customers}
    assert baseline["calm"]["score"] != baseline["shaky"]["score"]
    client = redis_client(service_settings)
    redis_pid = int(client.info("server")["process_id"])
    client.close()

    os.kill(redis_pid, signal.SIGSTOP)
    try:
        paused = [score(scorer.base_url, c) for c in customers for _ in range(5)]
    finally:
        os.kill(redis_pid, signal.SIGCONT)

    def model_answers_again() -> bool:
        return all(score(scorer.base_url, c)[1]["fallback"] is False for c in customers)

    wait_until(model_answers_again, timeout_s=15, what="model answers after Redis resumed")
    # Late replies to the requests that timed out must not be read as later answers.
    resumed = [(c, score(scorer.base_url, c)[1]) for _ in range(10) for c in customers]
    assert {(a["fallback"], a["fallback_reason"]) for _, a in paused} == {
        (True, "redis_unavailable")
    }
    # The budget plus HTTP and scheduling on a loaded two-core machine.
    assert max(elapsed for elapsed, _ in paused) < budget_ms / 1000 + 0.4
    assert all(
        (answer["score"], answer["fallback"]) == (baseline[customer]["score"], False)
        for customer, answer in resumed
    )
