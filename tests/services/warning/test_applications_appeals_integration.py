"""Limit applications and appeals on the real Kafka and Redis, with the score and warning
services as processes: applications approved, referred and declined in the right cases,
a referral's release granting the limit; an appeal reaching the review queue, a repeat
refused, and its release lifting the restriction under appeal."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from deploy.harness import ServiceProcess
from schemas.actions import RiskAction
from schemas.records import AuditRecord
from services.common.redis_keys import RedisKeys
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from tests.services.scorer.scorer_bundles import build_bundle, customer_state
from tests.support.stores import mark_store_complete
from tests.support.streams import read_topic_until

pytestmark = pytest.mark.integration

CLIENT = {"Authorization": "Bearer dev-client-key"}
ADMIN = {"Authorization": "Bearer dev-admin-key"}
APPROVER = {"Authorization": "Bearer dev-approver-key"}


def _store_customer(settings: ServiceSettings, customer_id: str, failed_payments: int) -> None:
    mark_store_complete(settings)
    client = redis.Redis.from_url(settings.redis_url.get_secret_value())
    state = customer_state(customer_id, datetime.now(UTC), failed_payments=failed_payments)
    client.set(RedisKeys(settings.redis_key_prefix).feature_state(customer_id), state.to_bytes())
    client.close()


def _apply(warning: ServiceProcess, customer_id: str, **body: Any) -> httpx.Response:
    return httpx.post(
        f"{warning.base_url}/v1/customers/{customer_id}/limit-applications",
        json=body,
        headers=CLIENT,
        timeout=10.0,
    )


def _freeze(warning: ServiceProcess, customer_id: str) -> str:
    answer = httpx.post(
        f"{warning.base_url}/v1/customers/{customer_id}/overrides",
        json={"action": "freeze_credit", "reason": "fraud suspected"},
        headers=ADMIN,
    )
    assert answer.status_code == 201, answer.text
    action_id: str = answer.json()["action"]["action_id"]
    return action_id


def _decide(warning: ServiceProcess, case_id: str, decision: str) -> dict[str, Any]:
    answer = httpx.post(
        f"{warning.base_url}/v1/cases/{case_id}:decide",
        json={"decision": decision, "comment": "checked with the customer"},
        headers=APPROVER,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_limit_applications_are_approved_referred_and_declined(
    start_service: Callable[..., ServiceProcess],
    service_settings: ServiceSettings,
    tmp_path: Path,
) -> None:
    # A loaded test machine can take longer than the production 20 ms budget and 50 ms read
    # timeout to answer a Redis read; a fallback answer would make every application 503,
    # which is not what this test is about.
    scorer = start_service(
        "scorer",
        RISKSTREAM_MODEL_REGISTRY_DIR=str(tmp_path / "registry"),
        RISKSTREAM_DEFAULT_BUNDLE=str(build_bundle(tmp_path / "bundle", "v1", bias=-3.0)),
        RISKSTREAM_REDIS_BUDGET_MS="2000",
        RISKSTREAM_REDIS_TIMEOUT_MS="2000",
    )
    warning = start_service(
        "warning",
        RISKSTREAM_SCORER_URL=scorer.base_url,
        RISKSTREAM_SCORER_TIMEOUT_S="10",
    )
    _store_customer(service_settings, "good", failed_payments=0)
    _store_customer(service_settings, "fair", failed_payments=1)
    _store_customer(service_settings, "held", failed_payments=0)

    scored = httpx.post(f"{scorer.base_url}/v1/score", json={"customer_id": "good"}, headers=CLIENT)
    assert scored.json()["grade"] == "B"
    assert scored.json()["service_tier"]["name"] == "standard"
    assert scored.json()["service_tier"]["repayment_terms"]["instalments"] == [3, 6]
    ceiling = scored.json()["credit_limit"]

    within = _apply(warning, "good", requested_limit=ceiling / 2, current_limit=100)
    capped = _apply(warning, "good", requested_limit=ceiling * 3, current_limit=100)
    assert within.status_code == capped.status_code == 200, within.text
    assert within.json()["decision"] == "approve"
    assert within.json()["approved_limit"] == ceiling / 2
    assert [r["code"] for r in within.json()["reasons"]] == ["L_APPROVED"]
    assert (capped.json()["decision"], capped.json()["approved_limit"]) == ("approve", ceiling)
    assert capped.json()["reasons"][0]["code"] == "L_CAPPED"
    assert len(within.json()["decision_id"]) == 32

    referred = _apply(warning, "fair", requested_limit=800)
    assert referred.json()["decision"] == "refer", referred.text
    assert referred.json()["approved_limit"] is None
    assert referred.json()["reasons"][0]["code"] == "L_GRADE"
    case_id = referred.json()["case_id"]
    again = _apply(warning, "fair", requested_limit=900)
    assert (again.status_code, again.json()["error"]) == (409, "application_under_review")
    queue = httpx.get(f"{warning.base_url}/v1/cases", headers=APPROVER).json()["cases"]
    assert [(c["case_id"], c["origin"]) for c in queue] == [(case_id, "limit_application")]
    offered = queue[0]["limit_offered"]
    assert 0 < offered <= 800
    released = _decide(warning, case_id, "release")
    (grant,) = released["actions"]
    assert (grant["action"], grant["limit_granted"]) == ("notify", offered)

    _freeze(warning, "held")
    declined = _apply(warning, "held", requested_limit=500)
    assert declined.json()["decision"] == "decline", declined.text
    assert declined.json()["reasons"][0]["code"] == "L_CREDIT_FROZEN"
    assert declined.json()["case_id"] is None

    bad = _apply(warning, "good", requested_limit=100, current_limit=200)
    negative = _apply(warning, "good", requested_limit=-5)
    assert (bad.status_code, bad.json()["detail"][0]["field"]) == (422, "requested_limit")
    assert (negative.status_code, negative.json()["detail"][0]["field"]) == (422, "requested_limit")

    actions = [
        RiskAction.model_validate_json(v)
        for v in asyncio.run(
            read_topic_until(
                service_settings,
                Topic.ACTIONS,
                lambda v: (
                    sum(b'"limit_granted":' in x and b'"limit_granted":null' not in x for x in v)
                    >= 3
                ),
            )
        )
    ]
    grants = sorted(a.limit_granted for a in actions if a.limit_granted is not None)
    assert grants == sorted([ceiling / 2, ceiling, offered])
    audit = [
        AuditRecord.model_validate_json(v)
        for v in asyncio.run(
            read_topic_until(
                service_settings,
                Topic.AUDIT,
                lambda v: sum(b'"limit_application"' in x for x in v) >= 4,
            )
        )
    ]
    outcomes = sorted(a.details["outcome"] for a in audit if a.operation == "limit_application")
    assert outcomes == ["approve", "approve", "decline", "refer"]


def test_an_appeal_reaches_review_and_a_repeat_is_refused(
    start_service: Callable[..., ServiceProcess],
    service_settings: ServiceSettings,
) -> None:
    warning = start_service("warning")
    frozen = _freeze(warning, "ap-1")
    url = f"{warning.base_url}/v1/customers/ap-1/appeals"
    statement = "I repaid on time. <script>alert(1)</script>"

    opened = httpx.post(url, json={"action_id": frozen, "statement": statement}, headers=CLIENT)
    repeat = httpx.post(url, json={"action_id": frozen, "statement": "again"}, headers=CLIENT)
    unknown = httpx.post(
        url, json={"action_id": str(uuid.uuid4()), "statement": "why"}, headers=CLIENT
    )
    unknown_decision = httpx.post(
        url, json={"decision_id": "0" * 32, "statement": "why"}, headers=CLIENT
    )
    malformed = httpx.post(url, json={"action_id": "x1", "statement": "why"}, headers=CLIENT)
    both = httpx.post(
        url, json={"action_id": frozen, "decision_id": "0" * 32, "statement": "x"}, headers=CLIENT
    )
    long = httpx.post(url, json={"action_id": frozen, "statement": "x" * 2001}, headers=CLIENT)
    control = httpx.post(url, json={"action_id": frozen, "statement": "a\x00b"}, headers=CLIENT)
    anonymous = httpx.post(url, json={"action_id": frozen, "statement": "why"})

    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert (case["origin"], case["reference"], case["holds"]) == (
        "appeal",
        f"action:{frozen}",
        [frozen],
    )
    assert case["statement"] == statement
    assert (repeat.status_code, repeat.json()["error"]) == (409, "appeal_exists")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_action")
    assert (unknown_decision.status_code, unknown_decision.json()["error"]) == (
        404,
        "unknown_decision",
    )
    for refused, field in (
        (malformed, "action_id"),
        (both, "action_id"),
        (long, "statement"),
        (control, "statement"),
    ):
        assert (refused.status_code, refused.json()["detail"][0]["field"]) == (422, field)
    assert anonymous.status_code == 401

    queue = httpx.get(f"{warning.base_url}/v1/cases", headers=APPROVER).json()["cases"]
    assert [(c["case_id"], c["origin"]) for c in queue] == [(case["case_id"], "appeal")]
    upheld = _decide(warning, case["case_id"], "release")
    assert [a["action"] for a in upheld["actions"]] == ["unfreeze_credit"]
    assert upheld["risk_state"]["status"] == "active"
    after = httpx.post(url, json={"action_id": frozen, "statement": "again"}, headers=CLIENT)
    assert (after.status_code, after.json()["error"]) == (409, "appeal_exists")

    audit = [
        AuditRecord.model_validate_json(v)
        for v in asyncio.run(
            read_topic_until(
                service_settings,
                Topic.AUDIT,
                lambda v: any(b'"case.decide"' in x for x in v),
            )
        )
    ]
    operations = [a.operation for a in audit if a.subject == "ap-1"]
    assert operations == ["override", "appeal.open", "case.decide"]
    assert all(statement not in a.model_dump_json() for a in audit)
