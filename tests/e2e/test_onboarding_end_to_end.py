"""Onboarding events on the real Kafka and Redis: through the ingest gateway to
``events.profile``, into the feature worker's state, and into the score API's thin-file
policy: a verified customer with a good bureau report scores above an anonymous one (a
registered customer who showed nothing, and a customer never seen). Malformed onboarding
records read from Kafka go to the dead-letter topic naming the field.

The model is the scorer tests' tiny logistic bundle, in which passed identity checks and
a good bureau score lower the odds of default."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from deploy.harness import ServiceProcess
from schemas.identifiers import keyed_hash
from schemas.records import DeadLetterRecord
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from tests.services.scorer.scorer_bundles import build_bundle
from tests.support.polling import wait_until
from tests.support.scoring import CLIENT, score_credit_order
from tests.support.stores import mark_store_complete, stored_features
from tests.support.streams import produce, read_topic_until

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC)
THIN_FILE = {"probability_of_default": 0.1, "grade": "C", "credit_limit": 1000}


def event(customer_id: str, number: int, event_type: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"{customer_id}-{number}",
        "event_type": event_type,
        "customer_id": customer_id,
        "occurred_at": (NOW - timedelta(hours=2) + timedelta(minutes=number)).isoformat(),
        **fields,
    }


def verified_with_a_good_report(customer_id: str) -> list[dict[str, Any]]:
    phone = keyed_hash("phone", "13900139000", b"consortium", "k1")
    return [
        event(customer_id, 1, "registration", channel="app", contact_hashes=[phone.model_dump()]),
        *(
            event(customer_id, n, "verification", kind=kind, result="passed", provider="kyc")
            for n, kind in enumerate(("phone", "real_name", "bank_card"), start=2)
        ),
        event(
            customer_id,
            5,
            "bureau_report",
            provider="sesame",
            score=860,
            scale_min=350,
            scale_max=950,
            delinquencies=0,
            inquiries_6m=1,
            fetched_at=(NOW - timedelta(hours=3)).isoformat(),
        ),
    ]


def test_a_verified_customer_with_a_good_report_scores_above_an_anonymous_one(
    service_settings: ServiceSettings,
    start_service: Callable[..., ServiceProcess],
    tmp_path: Path,
) -> None:
    bundle = build_bundle(tmp_path / "bundle", "onboarding-v1", bias=-1.5, thin_file=THIN_FILE)
    mark_store_complete(service_settings)  # no warning service here: nobody is restricted
    gateway = start_service("ingest")
    start_service("features")
    scorer = start_service("scorer", RISKSTREAM_DEFAULT_BUNDLE=str(bundle))
    suffix = tmp_path.name[-6:]
    verified, registered, never_seen = (f"{n}-{suffix}" for n in ("verified", "anon", "unseen"))
    events = [
        *verified_with_a_good_report(verified),
        event(registered, 1, "registration", channel="web"),
    ]
    sent = httpx.post(
        f"{gateway.base_url}/v1/events:batch", json={"events": events}, headers=CLIENT, timeout=30
    )
    assert sent.status_code == 202, sent.text

    wait_until(
        lambda: (
            stored_features(service_settings, verified).get("bureau_score_normalised") is not None
            and stored_features(service_settings, registered).get("days_since_registration")
            is not None
        ),
        60,
        "both customers' onboarding in the store",
    )
    features = stored_features(service_settings, verified)
    assert features["verified_kinds_count"] == 3.0
    assert features["bureau_score_normalised"] == pytest.approx((860 - 350) / 600)
    good, anonymous, unseen = (
        score_credit_order(scorer, c, 300) for c in (verified, registered, never_seen)
    )

    assert good["score"] > unseen["score"] > anonymous["score"]
    # Onboarding data alone earns at most a standard grade and limit (the thin-file cap)...
    assert (good["grade"], good["credit_limit"], good["decision"]) == ("B", 5000, "approve")
    assert [a["thin_file"] for a in (good, unseen, anonymous)] == [True, True, True]
    # ...while a customer never seen gets the bundle's fixed thin-file answer, and one who
    # registered without showing anything is judged by the model on just that.
    assert (unseen["grade"], unseen["decision"], unseen["features_as_of"]) == ("C", "review", None)
    assert [r["code"] for r in unseen["reasons"]] == ["R_NO_HISTORY"]
    assert anonymous["grade"] == "D"
    assert anonymous["decision"] == "prepay"


async def test_malformed_onboarding_records_on_kafka_are_dead_lettered_naming_the_field(
    service_settings: ServiceSettings, start_service: Callable[..., ServiceProcess]
) -> None:
    await asyncio.to_thread(start_service, "features")
    topic = service_settings.topics(Topic.PROFILE)
    malformed = {
        "registration": event("c-bad", 1, "registration", channel="app", contact_hashes="x"),
        "verification": event(
            "c-bad", 2, "verification", kind="dna", result="passed", provider="p"
        ),
        "bureau_report": event(
            "c-bad",
            3,
            "bureau_report",
            provider="sesame",
            score=2000,
            scale_min=350,
            scale_max=950,
            delinquencies=0,
            inquiries_6m=0,
            fetched_at=NOW.isoformat(),
        ),
    }
    await produce(
        service_settings, ((topic, b"c-bad", orjson.dumps(body)) for body in malformed.values())
    )

    values = await read_topic_until(
        service_settings, Topic.DLQ, lambda values: len(values) >= len(malformed), 90
    )

    letters = {
        orjson.loads(base64.b64decode(letter.value_b64))["event_type"]: letter
        for letter in map(DeadLetterRecord.model_validate_json, values)
    }
    assert set(letters) == set(malformed)
    assert {letter.reason for letter in letters.values()} == {"schema_violation"}
    assert {letter.source_topic for letter in letters.values()} == {topic}
    assert letters["registration"].detail.startswith("contact_hashes")
    assert letters["verification"].detail.startswith("kind")
    assert letters["bureau_report"].detail.startswith("score")
