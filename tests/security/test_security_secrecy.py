"""No secret or raw personal data leaves a service where docs/security.md says it must not:
log lines and the Prometheus metrics never carry an API key or a raw customer id, whatever
the requests (valid, invalid, unauthenticated, during a Redis outage)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from services.common.logs import JsonFormatter
from services.scorer.errors import StoreUnavailableError
from tests.fuzz.service_apps import ADMIN, ADMIN_KEY, APP_FACTORIES, CLIENT, CLIENT_KEY, client_for
from tests.services.scorer.test_scorer_api import Service as ScorerService

CUSTOMER = "cust-Privacy-4711"
"""A customer id distinctive enough that any occurrence in output is a leak."""
WRONG_KEY = "leaked-Guess-9f3a"


def event(event_id: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "event_id": event_id,
        "event_type": "payment",
        "customer_id": CUSTOMER,
        "occurred_at": "2026-01-01T00:00:00+00:00",
        "order_id": "o-1",
        "payment_id": "p-1",
        "amount": 10,
        "currency": "CNY",
        "kind": "charge",
        "status": "failed",
    }
    body.update(overrides)
    return body


async def exercise_every_service(tmp_path: Path) -> str:
    """Sends valid, invalid and unauthenticated requests naming CUSTOMER to every service
    (the scorer also with its store down) and returns every service's /metrics text."""
    metrics: list[str] = []
    wrong = {"Authorization": f"Bearer {WRONG_KEY}"}
    async with client_for(APP_FACTORIES["ingest"](tmp_path / "ingest")) as http:
        await http.post("/v1/events", json=event("e-1"), headers=CLIENT)
        await http.post("/v1/events", json=event("e-2", amount=-1), headers=CLIENT)
        await http.post("/v1/events:batch", json={"events": [event("e-3")]}, headers=wrong)
        metrics.append((await http.get("/metrics")).text)
    scorer = ScorerService(tmp_path / "scorer")
    scorer.store.failure = StoreUnavailableError("redis: ConnectionError")
    async with client_for(APP_FACTORIES["scorer"](tmp_path / "scorer-up")) as http:
        await http.post("/v1/score", json={"customer_id": CUSTOMER}, headers=CLIENT)
        await http.post("/v1/score", json={"customer_id": CUSTOMER, "order": 1}, headers=CLIENT)
        await http.post("/v1/score", json={"customer_id": CUSTOMER}, headers=wrong)
    async with client_for(scorer.app) as http:
        await http.post("/v1/score", json={"customer_id": CUSTOMER}, headers=CLIENT)
        metrics.append((await http.get("/metrics")).text)
    async with client_for(APP_FACTORIES["warning"](tmp_path / "warning")) as http:
        await http.get(f"/v1/customers/{CUSTOMER}/risk", headers=CLIENT)
        await http.post(
            f"/v1/customers/{CUSTOMER}/overrides",
            json={"action": "freeze_credit", "reason": "chargeback ring"},
            headers=ADMIN,
        )
        await http.post(
            f"/v1/customers/{CUSTOMER}/overrides", json={"action": "nonsense"}, headers=ADMIN
        )
        await http.get(f"/v1/customers/{CUSTOMER}/risk", headers=wrong)
        metrics.append((await http.get("/metrics")).text)
    return "\n".join(metrics)


SECRETS = (CUSTOMER, CLIENT_KEY, ADMIN_KEY, WRONG_KEY)


async def test_logs_and_metrics_carry_no_key_and_no_raw_customer_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    metrics = await exercise_every_service(tmp_path)

    formatter = JsonFormatter("security-test")
    # The test's own HTTP client logs the URLs it calls; the services are what is checked.
    lines = [
        formatter.format(record)
        for record in caplog.records
        if not record.name.startswith(("httpx", "httpcore"))
    ]
    assert lines, "the requests above log (a fallback at least), so the scan has input"
    assert [line for line in lines if any(secret in line for secret in SECRETS)] == []
    assert "riskstream_http_requests_total" in metrics
    assert [secret for secret in SECRETS if secret in metrics] == []
