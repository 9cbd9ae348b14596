"""The signal gateway's intake rules: what is accepted, skipped as this platform's own, or
refused (and what the dead letter may keep of it), and how this platform's signals are
made and signed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from schemas.identifiers import keyed_hash
from schemas.signals import SignalPublishRequest, SignalRetractRequest, signature_of
from services.signals.core import (
    REDACTED,
    Accepted,
    IntakePolicy,
    Own,
    Reason,
    Refused,
    check_signal,
    publication,
    retraction,
)
from services.signals.intake import intake_policy
from services.signals.settings import SignalsSettings

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
OKPAY_SECRET = b"okpay-secret"
PHONE = keyed_hash("phone", "+86 138-0013-8000", b"consortium", "k1")
POLICY = IntakePolicy(
    platform_id="riskstream",
    issuers={"okpay": (b"old-okpay-secret", OKPAY_SECRET), "shopb": ()},
    key_ids=frozenset({"k1", "k2"}),
    max_age=timedelta(days=30),
)


def document(**changes: Any) -> dict[str, Any]:
    signal: dict[str, Any] = {
        "action": "publish",
        "signal_id": "okpay-77",
        "issuer": "okpay",
        "signal_type": "confirmed_fraud",
        "severity": "high",
        "observed_on": "2026-11-28",
        "issued_at": (NOW - timedelta(hours=1)).isoformat(),
        "subjects": [PHONE.model_dump()],
        "legal_basis": "consent",
        "consent_ref": "okpay-consent-991",
    }
    signal.update(changes)
    return signal


def signed_bytes(signal: dict[str, Any], secret: bytes = OKPAY_SECRET) -> bytes:
    return orjson.dumps({**signal, "signature": signature_of(signal, secret)})


def test_a_signed_signal_of_an_allow_listed_issuer_is_accepted() -> None:
    verdict = check_signal(signed_bytes(document()), POLICY, NOW)
    assert isinstance(verdict, Accepted)
    assert verdict.signal.signal_id == "okpay-77"
    assert verdict.effective_at == NOW - timedelta(hours=1)


def test_either_secret_of_an_issuer_rotating_its_secret_is_accepted() -> None:
    verdict = check_signal(signed_bytes(document(), b"old-okpay-secret"), POLICY, NOW)
    assert isinstance(verdict, Accepted)


def test_the_signature_covers_the_bytes_sent_whatever_their_key_order() -> None:
    signal = document()
    reordered = dict(reversed(list(signal.items())))
    value = orjson.dumps({"signature": signature_of(signal, OKPAY_SECRET), **reordered})
    assert isinstance(check_signal(value, POLICY, NOW), Accepted)


def test_an_issuer_without_a_secret_needs_no_signature() -> None:
    verdict = check_signal(orjson.dumps(document(issuer="shopb")), POLICY, NOW)
    assert isinstance(verdict, Accepted)


def test_this_platforms_own_signal_is_not_counted_again() -> None:
    assert isinstance(check_signal(orjson.dumps(document(issuer="riskstream")), POLICY, NOW), Own)


def test_an_issuer_clock_ahead_of_ours_takes_effect_now() -> None:
    ahead = document(issued_at=(NOW + timedelta(minutes=2)).isoformat())
    verdict = check_signal(signed_bytes(ahead), POLICY, NOW)
    assert isinstance(verdict, Accepted)
    assert verdict.effective_at == NOW


def refused(value: bytes) -> Refused:
    verdict = check_signal(value, POLICY, NOW)
    assert isinstance(verdict, Refused), verdict
    return verdict


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"issuer": "unknownpay"}, Reason.UNKNOWN_ISSUER),
        ({"subjects": [{**PHONE.model_dump(), "key_id": "k0"}]}, Reason.UNKNOWN_KEY),
        (
            {"issued_at": (NOW - timedelta(days=31)).isoformat(), "observed_on": "2026-10-01"},
            Reason.TOO_OLD,
        ),
        ({"issued_at": (NOW + timedelta(minutes=6)).isoformat()}, Reason.FROM_THE_FUTURE),
        ({"expires_at": (NOW - timedelta(minutes=1)).isoformat()}, Reason.EXPIRED),
        ({"subjects": [{**PHONE.model_dump(), "hash": "abc123"}]}, Reason.BAD_HASH),
        ({"consent_ref": None}, Reason.SCHEMA_VIOLATION),
        ({"severity": "catastrophic"}, Reason.SCHEMA_VIOLATION),
        ({"note": "extra fields are refused"}, Reason.SCHEMA_VIOLATION),
    ],
)
def test_a_signal_breaking_a_rule_is_refused_with_its_reason(
    changes: dict[str, Any], reason: str
) -> None:
    signal = {k: v for k, v in document(**changes).items() if v is not None}
    assert refused(signed_bytes(signal)).reason == reason


def test_a_bad_or_missing_signature_is_refused() -> None:
    assert refused(signed_bytes(document(), b"forged")).reason == Reason.BAD_SIGNATURE
    assert refused(orjson.dumps(document())).reason == Reason.BAD_SIGNATURE
    tampered = orjson.loads(signed_bytes(document()))
    tampered["severity"] = "low"
    assert refused(orjson.dumps(tampered)).reason == Reason.BAD_SIGNATURE


def test_a_retraction_under_a_retired_key_is_still_accepted() -> None:
    retired = {**PHONE.model_dump(), "key_id": "k0"}
    signal = {
        "action": "retract",
        "signal_id": "okpay-77",
        "issuer": "okpay",
        "issued_at": (NOW - timedelta(minutes=5)).isoformat(),
        "subjects": [retired],
        "reason": "issued_in_error",
    }
    assert isinstance(check_signal(signed_bytes(signal), POLICY, NOW), Accepted)


@pytest.mark.parametrize(
    ("raw", "what"),
    [
        ({"subjects": [{**PHONE.model_dump(), "hash": "+86 138 0013 8000"}]}, "phone number"),
        ({"subjects": [{**PHONE.model_dump(), "hash": "13800138000"}]}, "mobile number"),
        ({"subjects": [{**PHONE.model_dump(), "hash": "11010519491231002X"}]}, "ID number"),
        ({"subjects": [{**PHONE.model_dump(), "hash": "lee@example.com"}]}, "e-mail address"),
        ({"phone": 8613800138000}, "a field named 'phone'"),
    ],
)
def test_a_raw_identifier_is_refused_and_never_kept(raw: dict[str, Any], what: str) -> None:
    value = orjson.dumps(document(**raw))
    verdict = refused(value)
    assert verdict.reason == Reason.RAW_IDENTIFIER
    assert what in verdict.detail
    assert verdict.kept_value is not None
    kept = verdict.kept_value.decode()
    assert REDACTED in kept
    for secret in ("13800138000", "8000", "11010519491231002X", "lee@example.com"):
        assert secret not in kept
        assert secret not in verdict.detail
    # Everything else is kept, for the operator who has to tell the issuer.
    assert orjson.loads(kept)["signal_id"] == "okpay-77"


def test_bytes_that_are_not_a_json_object_are_refused() -> None:
    assert refused(b"\xff").reason == Reason.INVALID_JSON
    assert refused(b"[1]").reason == Reason.SCHEMA_VIOLATION


def test_settings_make_the_policy() -> None:
    settings = SignalsSettings(
        signal_issuers="okpay:s1,okpay:s2,shopb", signal_key_ids="k1,k2", platform_id="mine"
    )
    policy = intake_policy(settings)
    assert policy.issuers == {"okpay": (b"s1", b"s2"), "shopb": ()}
    assert policy.key_ids == {"k1", "k2"}
    assert policy.platform_id == "mine"
    assert "s1" not in repr(settings)


def test_this_platforms_signals_are_issued_now_and_signed() -> None:
    request = SignalPublishRequest(
        signal_type="serious_delinquency_90d",
        severity="medium",
        observed_on=NOW.date(),
        subjects=[PHONE],
        legal_basis="contract",
        reason="90 days past due on order o-1",
    )
    signal = publication("riskstream", request, "riskstream-1", NOW, b"ours")
    sent = signal.model_dump(mode="json", exclude_none=True)
    assert sent["signature"] == signature_of(sent, b"ours")
    assert (signal.issuer, signal.issued_at) == ("riskstream", NOW)
    # What the platform publishes passes a partner's intake.
    partner = IntakePolicy("partner", {"riskstream": (b"ours",)}, frozenset({"k1"}), POLICY.max_age)
    assert isinstance(check_signal(orjson.dumps(sent), partner, NOW), Accepted)

    withdrawn = retraction(
        "riskstream",
        "riskstream-1",
        SignalRetractRequest(subjects=[PHONE], reason="resolved", comment="repaid in full"),
        NOW + timedelta(days=1),
        b"ours",
    )
    withdrawn_sent = orjson.dumps(withdrawn.model_dump(mode="json", exclude_none=True))
    assert isinstance(check_signal(withdrawn_sent, partner, NOW + timedelta(days=1)), Accepted)
