"""Hostile bodies on every route that reads one: JSON nested 100,000 deep, bodies over the
size limit (declared or streamed without a length) and batches over 1,000 items are refused
with a 4xx, never a 5xx or a crash, and the service answers normally afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.ingest.settings import IngestSettings
from services.scorer.settings import ScorerSettings
from services.warning.settings import WarningSettings
from tests.fuzz.service_apps import ADMIN, APP_FACTORIES, client_for

DEPTH = 100_000
NESTED_ARRAYS = b"[" * DEPTH + b"]" * DEPTH
NESTED_OBJECTS = b'{"a":' * DEPTH + b"1" + b"}" * DEPTH

BODY_ROUTES: list[tuple[str, str, str]] = [
    ("ingest", "POST", "/v1/events"),
    ("ingest", "POST", "/v1/events:batch"),
    ("scorer", "POST", "/v1/score"),
    ("scorer", "POST", "/v1/score:batch"),
    ("scorer", "POST", "/v1/models"),
    ("scorer", "POST", "/v1/models/v1:activate"),
    ("scorer", "POST", "/v1/models:rollback"),
    ("scorer", "POST", "/v1/models/v1:shadow"),
    ("scorer", "DELETE", "/v1/models/shadow"),
    ("warning", "POST", "/v1/customers/c1/overrides"),
    ("warning", "PUT", "/v1/rules"),
]
"""Every route that reads a request body, with a path that exists."""

HEALTHY_CALL: dict[str, tuple[str, str, bytes]] = {
    "ingest": ("POST", "/v1/events:batch", b'{"events": [{}]}'),
    "scorer": ("POST", "/v1/score", b'{"customer_id": "c1"}'),
    "warning": ("GET", "/v1/customers/c1/risk", b""),
}
"""A request each service answers below 500 when healthy."""

MAX_BODY_BYTES = {
    "ingest": IngestSettings().max_body_bytes,
    "scorer": ScorerSettings().max_body_bytes,
    "warning": WarningSettings().max_body_bytes,
}
"""The default size limit of each service's request bodies."""


@pytest.mark.parametrize("body", [NESTED_ARRAYS, NESTED_OBJECTS], ids=["arrays", "objects"])
@pytest.mark.parametrize(("service", "method", "path"), BODY_ROUTES)
async def test_deeply_nested_json_is_a_4xx(
    service: str, method: str, path: str, body: bytes, tmp_path: Path
) -> None:
    app = APP_FACTORIES[service](tmp_path)
    async with client_for(app) as http:
        response = await http.request(
            method, path, content=body, headers={**ADMIN, "Content-Type": "application/json"}
        )
        method_after, path_after, body_after = HEALTHY_CALL[service]
        after = await http.request(method_after, path_after, content=body_after, headers=ADMIN)
    assert 400 <= response.status_code < 500
    assert response.json()["error"]
    assert after.status_code < 500


@pytest.mark.parametrize("streamed", [False, True], ids=["declared", "streamed"])
@pytest.mark.parametrize(("service", "method", "path"), BODY_ROUTES)
async def test_a_body_over_the_limit_is_413(
    service: str, method: str, path: str, streamed: bool, tmp_path: Path
) -> None:
    limit = MAX_BODY_BYTES[service]
    oversize = b"[" + b"0," * (limit // 2) + b"0]"

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(oversize), 256 * 1024):
            yield oversize[start : start + 256 * 1024]

    async with client_for(APP_FACTORIES[service](tmp_path)) as http:
        response = await http.request(
            method, path, content=chunks() if streamed else oversize, headers=ADMIN
        )
    assert response.status_code == 413
    assert response.json()["error"]


async def test_a_score_batch_over_1000_requests_is_422(tmp_path: Path) -> None:
    body = {"requests": [{"customer_id": f"c{i}"} for i in range(1001)]}
    async with client_for(APP_FACTORIES["scorer"](tmp_path)) as http:
        response = await http.post("/v1/score:batch", json=body, headers=ADMIN)
        at_limit = await http.post(
            "/v1/score:batch", json={"requests": body["requests"][:1000]}, headers=ADMIN
        )
    assert response.status_code == 422
    assert {error["field"] for error in response.json()["detail"]} == {"requests"}
    assert at_limit.status_code == 200
    assert len(at_limit.json()["results"]) == 1000
