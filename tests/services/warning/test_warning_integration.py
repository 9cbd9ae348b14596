"""The warning service on the session's real Kafka and Redis, as a subprocess."""

import asyncio
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis

from deploy.harness import ServiceProcess
from examples.order_system_consumer import OrderAccounts, consume
from schemas.actions import CustomerRiskState, RiskAction
from schemas.records import AuditRecord, DeadLetterRecord
from schemas.scores import Grade, ScoreRecord
from services.common.kafka import make_producer
from services.common.redis_keys import RedisKeys
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from services.warning.core import DEFAULT_RULES_PATH, WarningState, evaluate, load_default_rules
from tests.services.warning.warning_fakes import BAD_RULES, SMALL_RULES, score
from tests.support.polling import wait_until_async
from tests.support.streams import read_topic_until

pytestmark = pytest.mark.integration

CLIENT = {"Authorization": "Bearer dev-client-key"}
ADMIN = {"Authorization": "Bearer dev-admin-key"}
GRADES: tuple[Grade, ...] = ("S", "A", "B", "C", "D")


async def produce(settings: ServiceSettings, records: list[ScoreRecord]) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        topic = settings.topics(Topic.SCORES)
        for record in records:
            await producer.send(
                topic, value=record.model_dump_json().encode(), key=record.customer_id.encode()
            )
        await producer.flush()
    finally:
        await producer.stop()


def expected_actions(records: list[ScoreRecord]) -> list[RiskAction]:
    """What the packaged rules issue for these scores (the core, in process)."""
    rules = load_default_rules()
    states: dict[str, WarningState] = {}
    actions: list[RiskAction] = []
    for record in records:
        evaluation = evaluate(rules, states.get(record.customer_id), record, record.scored_at)
        states[record.customer_id] = evaluation.state
        actions.extend(evaluation.actions)
    return actions


def start(start_service: Callable[..., ServiceProcess], **env: str) -> ServiceProcess:
    return start_service("warning", RISKSTREAM_RULES_POLL_S="0.2", **env)


async def test_scores_become_actions_with_stable_ids_and_overrides_are_audited(
    start_service: Callable[..., ServiceProcess], service_settings: ServiceSettings
) -> None:
    service = await asyncio.to_thread(start, start_service)
    at = datetime.now(UTC) - timedelta(hours=1)
    records = [score("c-frozen", at, "D"), score("c-fine", at, "A")]
    await produce(service_settings, [*records, records[0]])
    expected = {a.action_id for a in expected_actions(records)}

    published = [
        RiskAction.model_validate_json(v)
        for v in await read_topic_until(
            service_settings,
            Topic.ACTIONS,
            lambda values: (
                {RiskAction.model_validate_json(v).action_id for v in values} >= expected
            ),
        )
    ]
    assert {a.action_id for a in published} == expected
    assert {a.customer_id for a in published} == {"c-frozen"}

    async with httpx.AsyncClient(base_url=service.base_url, timeout=10.0) as http:
        risk = (await http.get("/v1/customers/c-frozen/risk", headers=CLIENT)).json()
        assert risk["status"] == "frozen"
        unseen = (await http.get("/v1/customers/nobody/risk", headers=CLIENT)).json()
        assert unseen["status"] == "active"

        body = {"action": "unfreeze_credit", "reason": "identity verified by phone"}
        refused = await http.post("/v1/customers/c-frozen/overrides", json=body, headers=CLIENT)
        assert refused.status_code == 403
        accepted = await http.post("/v1/customers/c-frozen/overrides", json=body, headers=ADMIN)
        assert accepted.status_code == 201
        override_id = accepted.json()["action"]["action_id"]

        invalid = await http.put("/v1/rules", content=BAD_RULES, headers=ADMIN)
        assert invalid.status_code == 422
        assert invalid.json()["detail"][0]["line"] == 6

    actions = await read_topic_until(
        service_settings,
        Topic.ACTIONS,
        lambda values: any(override_id.encode() in v for v in values),
    )
    assert len(actions) == len(published) + 1
    audits = [
        AuditRecord.model_validate_json(v)
        for v in await read_topic_until(
            service_settings, Topic.AUDIT, lambda values: len(values) >= 2
        )
    ]
    override = next(a for a in audits if a.operation == "override")
    assert (override.subject, override.reason) == ("c-frozen", "identity verified by phone")
    assert override.actor.startswith("admin:")
    assert any(a.operation == "rules.reload_refused" for a in audits)

    # The scorer reads the contract view from the shared key layout.
    client = redis.Redis.from_url(service_settings.redis_url.get_secret_value())
    try:
        stored = client.get(RedisKeys(service_settings.redis_key_prefix).risk_state("c-frozen"))
    finally:
        client.close()
    assert isinstance(stored, bytes)
    assert CustomerRiskState.model_validate_json(stored).status == "limited"


async def test_a_bad_rule_file_is_refused_and_a_good_one_becomes_live(
    start_service: Callable[..., ServiceProcess],
    service_settings: ServiceSettings,
    tmp_path: Path,
) -> None:
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_bytes(DEFAULT_RULES_PATH.read_bytes())
    service = await asyncio.to_thread(start, start_service, RISKSTREAM_RULES_PATH=str(rules_path))

    def live_version() -> str:
        response = httpx.get(f"{service.base_url}/v1/rules", headers=CLIENT, timeout=5.0)
        return str(response.json()["version"])

    rules_path.write_bytes(BAD_RULES)
    refused = [
        AuditRecord.model_validate_json(v)
        for v in await read_topic_until(
            service_settings, Topic.AUDIT, lambda values: len(values) >= 1
        )
    ]
    assert refused[0].operation == "rules.reload_refused"
    assert refused[0].details["line"] == 6
    assert await asyncio.to_thread(live_version) == "2026-12-01.1"
    metrics = (await asyncio.to_thread(httpx.get, f"{service.base_url}/metrics")).text
    assert 'riskstream_warning_rule_reload_failures_total{source="file"} 1.0' in metrics

    rules_path.write_bytes(SMALL_RULES)
    deadline = time.monotonic() + 15
    while await asyncio.to_thread(live_version) != "small.1":
        assert time.monotonic() < deadline, "the valid rule file never became live"
        await asyncio.sleep(0.2)


def customer_scores(customers: int, per_customer: int, seed: int) -> list[ScoreRecord]:
    """Scores a day apart per customer, grades drifting up and down, interleaved."""
    generator = random.Random(seed)
    start = datetime.now(UTC) - timedelta(days=per_customer + 1)
    by_customer: list[list[ScoreRecord]] = []
    for number in range(customers):
        grade_index = generator.randrange(len(GRADES))
        history: list[ScoreRecord] = []
        for day in range(per_customer):
            grade_index = min(max(grade_index + generator.choice((-1, 0, 0, 1)), 0), 4)
            failures = float(generator.choice((0, 0, 0, 4)))
            history.append(
                score(
                    f"k-{number}",
                    start + timedelta(days=day),
                    GRADES[grade_index],
                    payments_failed_24h=failures,
                )
            )
        by_customer.append(history)
    return [history[day] for day in range(per_customer) for history in by_customer]


async def test_the_order_system_applies_each_action_once_across_a_kill_and_restart(
    start_service: Callable[..., ServiceProcess],
    service_settings: ServiceSettings,
    tmp_path: Path,
) -> None:
    records = customer_scores(customers=30, per_customer=10, seed=7)
    expected = {a.action_id for a in expected_actions(records)}
    assert len(expected) > 50
    accounts = OrderAccounts(tmp_path / "orders.sqlite")
    applied: list[str] = []
    stop = asyncio.Event()
    order_system = asyncio.create_task(
        consume(
            service_settings,
            accounts,
            f"{service_settings.topic_prefix}order-system",
            applied.append,
            stop,
        )
    )
    try:
        await produce(service_settings, records)
        # One record per batch: a commit after every score, so the kill lands mid-stream.
        first = await asyncio.to_thread(start, start_service, RISKSTREAM_WARNING_BATCH_MAX="1")
        await wait_until_async(lambda: len(applied) >= 5, timeout_s=30.0)
        await asyncio.to_thread(first.kill)
        assert not set(accounts.applied_ids()) >= expected, "the stream ended before the kill"
        await asyncio.to_thread(start, start_service, RISKSTREAM_WARNING_BATCH_MAX="1")
        await wait_until_async(lambda: set(accounts.applied_ids()) >= expected, timeout_s=60)
        await asyncio.sleep(1.0)  # any late redelivery would arrive now
    finally:
        stop.set()
        await order_system
    ids = accounts.applied_ids()
    assert set(ids) == expected
    assert len(ids) == len(applied) == len(expected)
    accounts.close()
    published = await read_topic_until(
        service_settings, Topic.ACTIONS, lambda values: len(values) >= len(expected)
    )
    # The topic may hold a redelivered action twice; never an id the rules would not issue.
    assert {RiskAction.model_validate_json(v).action_id for v in published} == expected


async def test_an_unparseable_score_goes_to_the_dead_letter_topic(
    start_service: Callable[..., ServiceProcess], service_settings: ServiceSettings
) -> None:
    await asyncio.to_thread(start, start_service)
    producer = make_producer(service_settings)
    await producer.start()
    try:
        await producer.send_and_wait(
            service_settings.topics(Topic.SCORES), value=b"{broken", key=b"c-1"
        )
    finally:
        await producer.stop()
    (letter,) = [
        DeadLetterRecord.model_validate_json(v)
        for v in await read_topic_until(
            service_settings, Topic.DLQ, lambda values: len(values) >= 1
        )
    ]
    assert (letter.source_topic, letter.reason) == (
        service_settings.topics(Topic.SCORES),
        "invalid_json",
    )
