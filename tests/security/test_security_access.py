"""Access control as docs/security.md states it: every route of every HTTP service is either
public (health, metrics, the API description) or needs a key; admin routes refuse client
keys; and API keys are compared in constant time with no early exit."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import SecretStr

from services.common import auth
from services.common.auth import AuthenticationError, KeyRing
from tests.fuzz.service_apps import (
    ADMIN,
    ANALYST,
    APP_FACTORIES,
    APPROVER,
    AUDITOR,
    CLIENT,
    client_for,
)

PUBLIC = {
    "/live",
    "/ready",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
}
"""Routes anyone may call: health and metrics for probes and Prometheus, and the API
description (which holds no data)."""

ADMIN_ROUTES = {
    ("scorer", "GET", "/v1/models"),
    ("scorer", "POST", "/v1/models"),
    ("scorer", "POST", "/v1/models/{version}:activate"),
    ("scorer", "POST", "/v1/models:rollback"),
    ("scorer", "POST", "/v1/models/{version}:shadow"),
    ("scorer", "DELETE", "/v1/models/shadow"),
    ("scorer", "GET", "/v1/models/{version}/report"),
    ("warning", "POST", "/v1/customers/{customer_id}/overrides"),
    ("warning", "PUT", "/v1/rules"),
    ("warning", "POST", "/v1/rules/proposals"),
    *(
        (service, method, path)
        for service in ("scorer", "warning")
        for method, path in (
            ("GET", "/v1/changes"),
            ("GET", "/v1/changes/{change_id}"),
            ("POST", "/v1/changes/{change_id}:reject"),
        )
    ),
}
REVIEWER_ROUTES = {
    ("warning", "GET", "/v1/cases"),
    ("warning", "GET", "/v1/cases/{case_id}"),
    ("warning", "GET", "/v1/customers/{customer_id}/cases"),
    ("warning", "POST", "/v1/cases/{case_id}:claim"),
    ("warning", "POST", "/v1/cases/{case_id}:decide"),
}
"""Admin-scope routes for the analyst and approver roles only (review cases)."""
APPROVER_ROUTES = {
    ("scorer", "POST", "/v1/changes/{change_id}:approve"),
    ("warning", "POST", "/v1/changes/{change_id}:approve"),
}
"""Admin-scope routes for the approver role only (four eyes)."""
CLIENT_ROUTES = {
    ("ingest", "POST", "/v1/events"),
    ("ingest", "POST", "/v1/events:batch"),
    ("scorer", "POST", "/v1/score"),
    ("scorer", "POST", "/v1/score:batch"),
    ("scorer", "GET", "/v1/bare"),
    ("warning", "GET", "/v1/customers/{customer_id}/risk"),
    ("warning", "GET", "/v1/rules"),
    ("warning", "POST", "/v1/customers/{customer_id}/limit-applications"),
    ("warning", "POST", "/v1/customers/{customer_id}/appeals"),
    ("scorer", "GET", "/v1/customers/{customer_id}/explanation"),
}
AUDITOR_ROUTES = {
    ("scorer", "GET", "/v1/decisions/{decision_id}"),
    ("scorer", "GET", "/v1/customers/{customer_id}/decisions"),
}
"""Every protected route, by scope. A new route fails the walk until it is listed here.
Auditor routes (the decision log) admit auditor and admin keys, and nothing else does."""

PATH_VALUES = {
    "{version}": "v1",
    "{customer_id}": "c1",
    "{case_id}": "0a1b",
    "{change_id}": "0a1b",
    "{decision_id}": "0" * 32,
}
ROLE_ROUTES = REVIEWER_ROUTES | APPROVER_ROUTES


def routes_of(service: str, tmp_path: Path) -> tuple[set[tuple[str, str, str]], set[str]]:
    """The protected (service, method, path) triples and the public paths of one app."""
    app = APP_FACTORIES[service](tmp_path)
    protected: set[tuple[str, str, str]] = set()
    public: set[str] = set()
    for route in app.routes:
        path = str(getattr(route, "path", ""))
        if path in PUBLIC:
            public.add(path)
            continue
        assert isinstance(route, APIRoute), f"{service} {path} is not an API route"
        protected.update((service, method, path) for method in route.methods)
    return protected, public


def concrete(path: str) -> str:
    for template, value in PATH_VALUES.items():
        path = path.replace(template, value)
    return path


def test_every_route_is_public_or_classified(tmp_path: Path) -> None:
    found: set[tuple[str, str, str]] = set()
    for service in APP_FACTORIES:
        protected, public = routes_of(service, tmp_path / service)
        found |= protected
        assert {"/live", "/ready", "/metrics"} <= public
    assert found == ADMIN_ROUTES | ROLE_ROUTES | CLIENT_ROUTES | AUDITOR_ROUTES


async def call(
    service: str, method: str, path: str, headers: dict[str, str], tmp_path: Path
) -> httpx.Response:
    async with client_for(APP_FACTORIES[service](tmp_path)) as http:
        return await http.request(
            method, concrete(path), json={"reason": "security walk"}, headers=headers
        )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-key"}, {"Authorization": "Basic ZGV2OmRldg=="}],
    ids=["no key", "unknown key", "basic auth"],
)
@pytest.mark.parametrize(
    ("service", "method", "path"),
    sorted(ADMIN_ROUTES | ROLE_ROUTES | CLIENT_ROUTES | AUDITOR_ROUTES),
)
async def test_protected_routes_answer_401_without_a_valid_key(
    service: str, method: str, path: str, headers: dict[str, str], tmp_path: Path
) -> None:
    response = await call(service, method, path, headers, tmp_path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthenticated"


@pytest.mark.parametrize(("service", "method", "path"), sorted(ADMIN_ROUTES))
async def test_admin_routes_answer_403_to_a_client_key(
    service: str, method: str, path: str, tmp_path: Path
) -> None:
    refused = await call(service, method, path, CLIENT, tmp_path)
    admitted = await call(service, method, path, ADMIN, tmp_path / "admin")
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    assert admitted.status_code not in (401, 403)


@pytest.mark.parametrize(("service", "method", "path"), sorted(ROLE_ROUTES))
async def test_role_routes_refuse_other_roles_and_admit_theirs(
    service: str, method: str, path: str, tmp_path: Path
) -> None:
    reviewing = (service, method, path) in REVIEWER_ROUTES
    own = ANALYST if reviewing else APPROVER
    other = {**ANALYST, "X-Riskstream-Actor-Role": "admin"} if reviewing else ANALYST
    for number, headers in enumerate((CLIENT, ADMIN, other)):
        refused = await call(service, method, path, headers, tmp_path / str(number))
        assert refused.status_code == 403, headers
        assert refused.json()["error"] == "forbidden"
    admitted = await call(service, method, path, own, tmp_path / "own")
    assert admitted.status_code not in (401, 403)


@pytest.mark.parametrize(("service", "method", "path"), sorted(AUDITOR_ROUTES))
async def test_decision_log_routes_admit_auditor_and_admin_keys_only(
    service: str, method: str, path: str, tmp_path: Path
) -> None:
    refused = await call(service, method, path, CLIENT, tmp_path)
    auditor = await call(service, method, path, AUDITOR, tmp_path / "auditor")
    admin = await call(service, method, path, ADMIN, tmp_path / "admin")
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    assert auditor.status_code not in (401, 403)
    assert admin.status_code not in (401, 403)


@pytest.mark.parametrize(
    ("service", "method", "path"),
    sorted(route for route in ADMIN_ROUTES | CLIENT_ROUTES if route[0] == "scorer"),
)
async def test_an_auditor_key_may_neither_score_nor_administer(
    service: str, method: str, path: str, tmp_path: Path
) -> None:
    response = await call(service, method, path, AUDITOR, tmp_path)
    assert response.status_code == 403


@pytest.mark.parametrize(("service", "method", "path"), sorted(CLIENT_ROUTES))
async def test_client_routes_admit_a_client_key(
    service: str, method: str, path: str, tmp_path: Path
) -> None:
    response = await call(service, method, path, CLIENT, tmp_path)
    assert response.status_code not in (401, 403)


@pytest.mark.parametrize("service", sorted(APP_FACTORIES))
async def test_health_and_metrics_need_no_key(service: str, tmp_path: Path) -> None:
    async with client_for(APP_FACTORIES[service](tmp_path)) as http:
        statuses = [(await http.get(path)).status_code for path in ("/live", "/metrics")]
    assert statuses == [200, 200]


def test_every_configured_key_is_compared_in_constant_time_without_early_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    compare_digest = hmac.compare_digest

    def recording_compare(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", recording_compare)
    keys = [SecretStr(f"admin-{n}") for n in range(3)]
    ring = KeyRing([SecretStr("client-0"), SecretStr("client-1")], keys)

    first = ring.authenticate("Bearer admin-0")
    after_match = len(compared)
    with pytest.raises(AuthenticationError):
        ring.authenticate("Bearer admin-9")

    assert first.label.startswith("admin:")
    # Five configured keys: all five compared when the first matches and when none does.
    assert after_match == 5
    assert len(compared) == 10
    presented = hashlib.sha256(b"admin-0").digest()
    assert all(b == presented for _, b in compared[:5])
    # Digests of equal length are compared, never the keys themselves.
    assert {len(a) for a, _ in compared} == {32}
