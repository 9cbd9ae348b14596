"""The signal gateway on the real Kafka: records on the exchange are refused and
dead-lettered (a raw identifier, an unknown issuer, a bad hash, a bad signature) or filed
once per subject on ``signals.subjects``; this platform's own signals, published through
its admin API (and audited), come back from the exchange and are not counted again."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from deploy.harness import BackingServices, ServiceProcess, isolated_settings
from schemas.identifiers import keyed_hash
from schemas.records import AuditRecord, DeadLetterRecord
from schemas.signals import AcceptedSignal, SignalPublication, signature_of
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from tests.support.polling import wait_until
from tests.support.streams import produce, read_topic_until, read_topics

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": "Bearer dev-admin-key"}
SECRET = b"okpay-secret"
PHONE = keyed_hash("phone", "13800138000", b"consortium", "k1")
ID_NUMBER = keyed_hash("id_number", "11010519491231002X", b"consortium", "k1")
SIGNALS_ENV = {
    "RISKSTREAM_SIGNAL_ISSUERS": "okpay:okpay-secret",
    "RISKSTREAM_SIGNAL_KEY_IDS": "k1",
    "RISKSTREAM_PLATFORM_ID": "riskstream-test",
}


def signal(signal_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "action": "publish",
        "signal_id": signal_id,
        "issuer": "okpay",
        "signal_type": "confirmed_fraud",
        "severity": "high",
        "observed_on": (datetime.now(UTC) - timedelta(days=1)).date().isoformat(),
        "issued_at": datetime.now(UTC).isoformat(),
        "subjects": [PHONE.model_dump(), ID_NUMBER.model_dump()],
        "legal_basis": "legal_obligation",
    }
    body.update(changes)
    return body


def signed(body: dict[str, Any], secret: bytes = SECRET) -> bytes:
    return orjson.dumps({**body, "signature": signature_of(body, secret)})


async def test_the_gateway_refuses_what_it_must_and_files_the_rest(
    service_settings: ServiceSettings, start_service: Callable[..., ServiceProcess]
) -> None:
    gateway = await asyncio.to_thread(start_service, "signals", **SIGNALS_ENV)
    exchange = service_settings.topics(Topic.SIGNALS_SHARED)
    bad = {
        "raw": signed(signal("raw", subjects=[{**PHONE.model_dump(), "hash": "+8613800138000"}])),
        "issuer": signed(signal("issuer", issuer="mallory")),
        "hash": signed(signal("hash", subjects=[{**PHONE.model_dump(), "hash": "f00d"}])),
        "signature": signed(signal("signature"), b"not okpay's secret"),
    }
    await produce(
        service_settings,
        [
            *((exchange, key.encode(), value) for key, value in bad.items()),
            (exchange, b"good", signed(signal("good"))),
        ],
    )
    async with httpx.AsyncClient(base_url=gateway.base_url, headers=ADMIN) as http:
        published = await http.post(
            "/v1/signals",
            json={
                "signal_id": "ours-1",
                "signal_type": "chargeback_abuse",
                "severity": "medium",
                "observed_on": datetime.now(UTC).date().isoformat(),
                "subjects": [PHONE.model_dump()],
                "legal_basis": "consent",
                "consent_ref": "consent-42",
                "reason": "three chargebacks confirmed abusive",
            },
        )
        assert published.status_code == 201, published.text
        refused = await http.post(
            "/v1/signals",
            json={
                "signal_type": "chargeback_abuse",
                "severity": "medium",
                "observed_on": datetime.now(UTC).date().isoformat(),
                "subjects": [PHONE.model_dump()],
                "legal_basis": "consent",
                "reason": "no consent reference",
            },
        )
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["reason"].endswith(
            "consent_ref is required when the legal basis is consent"
        )

    letters = [
        DeadLetterRecord.model_validate_json(value)
        for value in await read_topic_until(
            service_settings, Topic.DLQ, lambda values: len(values) >= len(bad), 60
        )
    ]
    by_key = {letter.key: letter for letter in letters}
    assert {key: by_key[key].reason for key in bad} == {
        "raw": "raw_identifier",
        "issuer": "unknown_issuer",
        "hash": "bad_hash",
        "signature": "bad_signature",
    }
    assert all(letter.service == "signals" for letter in letters)
    assert all(letter.source_topic == exchange for letter in letters)
    kept = base64.b64decode(by_key["raw"].value_b64)
    assert b"13800138000" not in kept
    assert b"[redacted]" in kept

    filed = [
        AcceptedSignal.model_validate_json(value)
        for value in await read_topic_until(
            service_settings, Topic.SIGNAL_SUBJECTS, lambda values: len(values) >= 2, 30
        )
    ]
    assert sorted(f.subject.kind for f in filed) == ["id_number", "phone"]
    assert {f.signal.signal_id for f in filed} == {"good"}

    # This platform's own signal went out signed, was audited, and did not come back in.
    shared = await read_topic_until(
        service_settings,
        Topic.SIGNALS_SHARED,
        lambda values: any(b'"ours-1"' in v for v in values),
        30,
    )
    ours = SignalPublication.model_validate_json(next(v for v in shared if b'"ours-1"' in v))
    assert (ours.issuer, ours.consent_ref) == ("riskstream-test", "consent-42")
    assert ours.signature is not None
    audits = [
        AuditRecord.model_validate_json(value)
        for value in await read_topic_until(
            service_settings, Topic.AUDIT, lambda values: len(values) >= 1, 30
        )
    ]
    assert [(a.operation, a.subject) for a in audits] == [("signal.publish", "ours-1")]
    assert audits[0].details["subject_kinds"] == ["phone"]
    # Our signal is on the exchange; the gateway reads it back (and skips it) a moment later.
    own = 'riskstream_signals_read_total{outcome="own"} 1.0'

    def metrics() -> str:
        return httpx.get(f"{gateway.base_url}/metrics", timeout=5).text

    await asyncio.to_thread(wait_until, lambda: own in metrics(), 30, "our own signal read back")
    assert 'riskstream_signals_read_total{outcome="accepted"} 1.0' in metrics()


async def test_an_exchange_in_another_cluster_is_read_and_published_to(
    platform: BackingServices,
    topic_prefix: str,
    service_settings: ServiceSettings,
    start_service: Callable[..., ServiceProcess],
) -> None:
    # The consortium's cluster: the same broker under another address (so the gateway
    # connects to it separately) and a topic of another deployment.
    consortium = await asyncio.to_thread(isolated_settings, platform, f"x{topic_prefix}")
    exchange = consortium.topics(Topic.SIGNALS_SHARED)
    gateway = await asyncio.to_thread(
        start_service,
        "signals",
        **SIGNALS_ENV,
        RISKSTREAM_EXCHANGE_BOOTSTRAP_SERVERS=platform.kafka_bootstrap.replace(
            "127.0.0.1", "localhost"
        ),
        RISKSTREAM_EXCHANGE_TOPIC=exchange,
    )
    await produce(consortium, [(exchange, b"good", signed(signal("from-the-consortium")))])

    filed = [
        AcceptedSignal.model_validate_json(value)
        for value in await read_topic_until(
            service_settings, Topic.SIGNAL_SUBJECTS, lambda values: len(values) >= 2, 30
        )
    ]
    assert {f.signal.signal_id for f in filed} == {"from-the-consortium"}

    async with httpx.AsyncClient(base_url=gateway.base_url, headers=ADMIN) as http:
        published = await http.post(
            "/v1/signals",
            json={
                "signal_id": "ours-2",
                "signal_type": "serious_delinquency_90d",
                "severity": "high",
                "observed_on": datetime.now(UTC).date().isoformat(),
                "subjects": [PHONE.model_dump()],
                "legal_basis": "contract",
                "reason": "120 days past due",
            },
        )
        assert published.status_code == 201, published.text
    on_the_exchange = await read_topics(
        consortium, [exchange], lambda values: any(b'"ours-2"' in v for v in values), 30
    )
    assert any(b'"ours-2"' in value for value in on_the_exchange)
    own_topic = await read_topics(
        service_settings, [service_settings.topics(Topic.SIGNALS_SHARED)], lambda _: False, 2
    )
    assert own_topic == []
