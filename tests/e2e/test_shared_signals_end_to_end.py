"""Shared signals through the whole platform on the real Kafka and Redis: a partner's
``confirmed_fraud`` signal about a customer's phone number (a keyed hash, nothing else)
reaches the customer who registered that hash, the warning service freezes their credit and
the score API stops approving them on credit; the partner's retraction lifts the freeze.
A signal this platform issued itself, coming back from the exchange, counts for nobody.

The model is the scorer tests' tiny logistic bundle; the rules are the shipped default
rules with their waiting times shrunk, so the freeze lifts as soon as the signal is gone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from deploy.harness import ServiceProcess
from schemas.identifiers import keyed_hash
from schemas.signals import signature_of
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from tests.services.scorer.scorer_bundles import build_bundle
from tests.support.actions import actions_of
from tests.support.polling import wait_until
from tests.support.rules import fast_rules
from tests.support.scoring import score_credit_order
from tests.support.stores import stored_features
from tests.support.streams import produce

pytestmark = pytest.mark.integration
CONSORTIUM_KEY = b"consortium key k1"
PARTNER_SECRET = b"okpay-secret"
PLATFORM_ID = "riskstream-e2e"


def registration(customer_id: str, phone: str) -> bytes:
    """The customer's registration, carrying the keyed hash of their phone number."""
    contact = keyed_hash("phone", phone, CONSORTIUM_KEY, "k1")
    event = {
        "event_id": f"{customer_id}-reg",
        "event_type": "registration",
        "customer_id": customer_id,
        "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "channel": "app",
        "contact_hashes": [contact.model_dump()],
    }
    return orjson.dumps(event)


def partner_record(body: dict[str, Any], phone: str, secret: bytes = PARTNER_SECRET) -> bytes:
    """The record a partner publishes about the person with ``phone``: issued now, naming
    the phone's keyed hash, signed with the partner's secret."""
    subject = keyed_hash("phone", phone, CONSORTIUM_KEY, "k1")
    body = {**body, "issued_at": datetime.now(UTC).isoformat(), "subjects": [subject.model_dump()]}
    return orjson.dumps({**body, "signature": signature_of(body, secret)})


def test_a_partners_fraud_signal_restricts_and_its_retraction_lifts_the_restriction(
    service_settings: ServiceSettings,
    start_service: Callable[..., ServiceProcess],
    tmp_path: Path,
) -> None:
    bundle = build_bundle(tmp_path / "bundle", "signals-v1", bias=-4.0)
    start_service(
        "signals",
        RISKSTREAM_SIGNAL_ISSUERS="okpay:okpay-secret",
        RISKSTREAM_SIGNAL_KEY_IDS="k1",
        RISKSTREAM_PLATFORM_ID=PLATFORM_ID,
    )
    start_service("features")
    scorer = start_service("scorer", RISKSTREAM_DEFAULT_BUNDLE=str(bundle))
    start_service("warning", RISKSTREAM_RULES_PATH=str(fast_rules(tmp_path / "rules.yaml")))
    suffix = tmp_path.name[-6:]
    flagged, bystander = f"flagged-{suffix}", f"bystander-{suffix}"
    topics = service_settings.topics
    exchange = topics(Topic.SIGNALS_SHARED)
    fraud = {
        "action": "publish",
        "signal_id": "okpay-fraud-1",
        "issuer": "okpay",
        "signal_type": "confirmed_fraud",
        "severity": "high",
        "observed_on": (datetime.now(UTC) - timedelta(days=2)).date().isoformat(),
        "legal_basis": "legal_obligation",
    }
    ours = {**fraud, "signal_id": "ours-1", "issuer": PLATFORM_ID}

    profile = topics(Topic.PROFILE)
    # The partner's signal may arrive before or after the customer registers: either way
    # it reaches them. Ours, about the bystander, is this platform's own.
    asyncio.run(
        produce(
            service_settings,
            [
                (exchange, b"k1", partner_record(fraud, "13800138000")),
                (profile, flagged.encode(), registration(flagged, "13800138000")),
                (profile, bystander.encode(), registration(bystander, "13700137000")),
                (exchange, b"k2", partner_record(ours, "13700137000")),
            ],
        )
    )

    wait_until(
        lambda: "freeze_credit" in actions_of(service_settings).get(flagged, []),
        90,
        "the flagged customer's freeze",
    )
    assert stored_features(service_settings, flagged)["shared_signals_confirmed_fraud"] == 1.0
    assert score_credit_order(scorer, flagged, 50)["decision"] == "prepay"

    retraction = {
        "action": "retract",
        "signal_id": "okpay-fraud-1",
        "issuer": "okpay",
        "reason": "dispute_upheld",
    }
    asyncio.run(
        produce(service_settings, [(exchange, b"k1", partner_record(retraction, "13800138000"))])
    )

    wait_until(
        lambda: "unfreeze_credit" in actions_of(service_settings).get(flagged, []),
        60,
        "the freeze lifted by the retraction",
    )
    assert stored_features(service_settings, flagged)["shared_signals_confirmed_fraud"] == 0.0
    assert score_credit_order(scorer, flagged, 50)["decision"] == "approve"
    # The bystander's only signal was this platform's own: it counted for nothing.
    assert stored_features(service_settings, bystander)["shared_signals_confirmed_fraud"] == 0.0
    assert bystander not in actions_of(service_settings)
