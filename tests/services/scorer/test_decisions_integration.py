"""The decision log and the customer's explanation on the session's real Kafka and Redis:
every answer's record reaches ``risk.decisions`` through a Kafka outage and a restart, is
readable by id from the Redis copy, and the explanation agrees with the frozen record and
states counterfactuals that really score as stated."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
import redis
from typer.testing import CliRunner

from deploy.harness import BackingServices, ServiceProcess
from riskmodel.loading import open_bundle
from schemas.decisions import CustomerExplanation, DecisionRecord
from schemas.features import FEATURE_SCHEMA, to_model_row
from schemas.records import DeadLetterRecord
from services.cli.main import app
from services.common.redis_keys import RedisKeys
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from services.features.core import CustomerState, compute_features
from services.scorer.core import score_rows
from tests.services.scorer.scorer_bundles import build_bundle
from tests.services.scorer.test_scorer_integration import store_state
from tests.support.polling import wait_until
from tests.support.streams import produce, read_records, read_topic_until

pytestmark = pytest.mark.integration

CLIENT = {"Authorization": "Bearer dev-client-key"}
ADMIN = {"Authorization": "Bearer dev-admin-key"}
ORDER = {"amount": 80.0, "currency": "CNY", "payment_method": "bnpl"}


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return build_bundle(tmp_path / "bundles" / "v1", "v1", bias=-3.0)


@pytest.fixture
def scorer_env(tmp_path: Path, bundle: Path) -> dict[str, str]:
    return {
        "RISKSTREAM_MODEL_REGISTRY_DIR": str(tmp_path / "registry"),
        "RISKSTREAM_DEFAULT_BUNDLE": str(bundle),
        "RISKSTREAM_LOG_LEVEL": "WARNING",
        "RISKSTREAM_DECISION_PRODUCE_TIMEOUT_S": "2",
    }


def score(base_url: str, customer_id: str) -> dict[str, Any]:
    response = httpx.post(
        f"{base_url}/v1/score",
        json={"customer_id": customer_id, "order": ORDER},
        headers=CLIENT,
        timeout=10.0,
    )
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


def metric(base_url: str, series: str) -> float:
    for line in httpx.get(f"{base_url}/metrics").text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def decision(base_url: str, decision_id: str, headers: dict[str, str] = ADMIN) -> httpx.Response:
    return httpx.get(f"{base_url}/v1/decisions/{decision_id}", headers=headers, timeout=10.0)


def test_every_answer_is_kept_through_a_kafka_outage_and_a_scorer_restart(
    start_service: Callable[..., ServiceProcess],
    scorer_env: dict[str, str],
    service_settings: ServiceSettings,
    platform: BackingServices,
) -> None:
    scorer = start_service("scorer", **scorer_env)
    store_state(service_settings, "c1", datetime.now(UTC), failed_payments=1)
    answers = [score(scorer.base_url, "c1") for _ in range(3)]
    batch = httpx.post(
        f"{scorer.base_url}/v1/score:batch",
        json={"requests": [{"customer_id": c} for c in ("c1", "new-1", "new-2")]},
        headers=CLIENT,
        timeout=10.0,
    )
    answers += batch.json()["results"]

    platform.stop_kafka()
    try:
        during_outage = [score(scorer.base_url, f"c{i % 2}") for i in range(8)]
    finally:
        platform.start_kafka()
    answers += during_outage
    wait_until(
        lambda: (
            metric(scorer.base_url, 'riskstream_decision_log_records_total{outcome="replayed"}')
            >= len(during_outage)
        ),
        60.0,
        "the outage's decisions replayed from the spool",
    )
    last = score(scorer.base_url, "c1")
    scorer.stop()  # a clean shutdown produces (or spools) what is still queued
    scorer.start()
    answers.append(last)
    ids = [answer["decision_id"] for answer in answers]

    def decision_ids(values: list[bytes]) -> set[str]:
        return {DecisionRecord.model_validate_json(v).decision_id for v in values}

    logged = asyncio.run(
        read_topic_until(
            service_settings, Topic.DECISIONS, lambda v: set(ids) <= decision_ids(v), 60.0
        )
    )
    wait_until(
        lambda: all(decision(scorer.base_url, i).status_code == 200 for i in ids),
        30.0,
        "every decision readable from the copy",
    )

    assert len(set(ids)) == len(ids) == 15
    records = {r.decision_id: r for r in map(DecisionRecord.model_validate_json, logged)}
    for answer in answers:
        frozen = DecisionRecord.model_validate(
            decision(scorer.base_url, answer["decision_id"]).json()
        )
        assert frozen == records[answer["decision_id"]]
        assert frozen.answer.model_dump(mode="json") == answer
        assert frozen.caller.startswith("client:")
    first = records[ids[0]]
    assert first.features is not None
    assert first.features["payments_failed_30d"] == 1.0
    assert first.answer.features_as_of is not None
    assert first.request.order is not None
    assert first.account_status == "active"
    assert records[ids[4]].features is None  # thin file: no features used
    assert (records[ids[4]].batch_size, records[ids[4]].batch_index) == (3, 1)

    env = {"RISKSTREAM_SCORER_URL": scorer.base_url}
    shown = CliRunner().invoke(app, ["decisions", "show", ids[0]], env=env)
    listed = CliRunner().invoke(app, ["decisions", "list", "--customer", "c1"], env=env)
    missing = CliRunner().invoke(app, ["decisions", "show", "f" * 32], env=env)
    assert shown.exit_code == 0, shown.output
    assert DecisionRecord.model_validate_json(shown.stdout) == first
    assert listed.exit_code == 0, listed.output
    assert {d["decision_id"] for d in orjson.loads(listed.stdout)["decisions"]} >= {ids[0], ids[-1]}
    assert missing.exit_code == 1
    assert decision(scorer.base_url, ids[0], CLIENT).status_code == 403
    # The copy is rebuilt from the topic when Redis loses it (the marker goes with it), and
    # a record on the topic that is not a decision goes to the dead-letter topic.
    client = redis.Redis.from_url(service_settings.redis_url.get_secret_value())
    lost = list(client.scan_iter(f"{service_settings.redis_key_prefix}:v1:*decision*"))
    client.delete(*lost)
    client.close()
    assert decision(scorer.base_url, ids[0]).status_code == 404
    asyncio.run(
        produce(service_settings, [(service_settings.topics(Topic.DECISIONS), b"c1", b"{oops")])
    )
    (bad_offset,) = [
        r.offset
        for r in asyncio.run(
            read_records(
                service_settings,
                [service_settings.topics(Topic.DECISIONS)],
                lambda read: any(r.value == b"{oops" for r in read),
                30.0,
            )
        )
        if r.value == b"{oops"
    ]
    wait_until(
        lambda: all(decision(scorer.base_url, i).status_code == 200 for i in ids),
        30.0,
        "the copy rebuilt from risk.decisions",
    )
    letters = map(
        DeadLetterRecord.model_validate_json,
        asyncio.run(read_topic_until(service_settings, Topic.DLQ, lambda v: len(v) >= 1)),
    )
    # At least once: a rebuild that re-reads the bad record dead-letters it again.
    assert {(d.source_topic, d.offset, d.reason) for d in letters} == {
        (service_settings.topics(Topic.DECISIONS), bad_offset, "schema_violation")
    }

    unknown = decision(scorer.base_url, "0" * 32)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_decision")
    malformed = decision(scorer.base_url, "not-an-id")
    assert (malformed.status_code, malformed.json()["detail"][0]["field"]) == (422, "decision_id")


def test_the_explanation_agrees_with_the_frozen_record_and_its_counterfactuals_score_as_stated(
    start_service: Callable[..., ServiceProcess],
    scorer_env: dict[str, str],
    service_settings: ServiceSettings,
    bundle: Path,
) -> None:
    scorer = start_service("scorer", **scorer_env)
    store_state(service_settings, "risky", datetime.now(UTC), failed_payments=3)
    answer = score(scorer.base_url, "risky")
    wait_until(
        lambda: decision(scorer.base_url, answer["decision_id"]).status_code == 200,
        30.0,
        "the decision's copy",
    )
    frozen = DecisionRecord.model_validate(decision(scorer.base_url, answer["decision_id"]).json())

    def explain(lang: str, customer_id: str = "risky") -> httpx.Response:
        return httpx.get(
            f"{scorer.base_url}/v1/customers/{customer_id}/explanation",
            params={"lang": lang},
            headers=CLIENT,
            timeout=10.0,
        )

    english = CustomerExplanation.model_validate(explain("en").json())
    chinese = CustomerExplanation.model_validate(explain("zh-CN").json())

    assert english.reasons[0].code == frozen.answer.reasons[0].code == chinese.reasons[0].code
    assert english.reasons[0].contribution == frozen.answer.reasons[0].impact
    assert (english.grade, english.model_version) == (frozen.answer.grade, "v1")
    assert english.improvements
    client = redis.Redis.from_url(service_settings.redis_url.get_secret_value())
    stored = client.get(RedisKeys(service_settings.redis_key_prefix).feature_state("risky"))
    client.close()
    assert isinstance(stored, bytes)
    assert english.features_as_of is not None
    features = compute_features(CustomerState.from_bytes(stored), english.features_as_of)
    model = open_bundle(bundle, FEATURE_SCHEMA)
    for improvement in english.improvements:
        changed = dict(features)
        for change in improvement.changes:
            assert changed[change.feature] == change.current
            changed[change.feature] = change.changed
        (verdict,) = score_rows(model, np.asarray([to_model_row(changed)], dtype=np.float64))
        assert verdict is not None
        assert (verdict.assessment.grade, verdict.assessment.score) == (
            improvement.grade,
            improvement.score,
        )
    assert "grade" in english.summary
    assert "信用等级" in chinese.summary
    assert "信用等级" in chinese.improvements[0].text

    unsupported = explain("fr")
    assert (unsupported.status_code, unsupported.json()["error"]) == (422, "unsupported_language")
    assert explain("x" * 40).json()["detail"][0]["field"] == "lang"
    assert explain("en", "c" * 65).json()["detail"][0]["field"] == "customer_id"
