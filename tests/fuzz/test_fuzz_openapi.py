"""schemathesis against the OpenAPI spec of every HTTP service (ingest, scorer, warning), in
process over fakes: requests generated from the spec, valid and invalid, with a client or an
admin key, never get a 5xx answer.

Ingest's 503 is its documented answer to Kafka being away, and the fakes never are, so any
5xx here is a fault.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error

from tests.fuzz.service_apps import ADMIN, APP_FACTORIES, CLIENT

EXAMPLES_PER_OPERATION = 30
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


@pytest.mark.parametrize("service", sorted(APP_FACTORIES))
def test_every_reference_in_the_spec_resolves(service: str, tmp_path: Path) -> None:
    spec = APP_FACTORIES[service](tmp_path).openapi()
    components = spec.get("components", {}).get("schemas", {})
    found = set(references(spec))
    assert found
    assert {
        ref for ref in found if ref.removeprefix("#/components/schemas/") not in components
    } == set()


def call_as_client_and_admin(case: Case) -> None:
    for headers in (CLIENT, ADMIN):
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error])
        assert response.status_code < 500


@pytest.mark.parametrize("service", sorted(APP_FACTORIES))
def test_no_generated_request_gets_a_5xx(service: str, tmp_path: Path) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", APP_FACTORIES[service](tmp_path))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations
    for operation in operations:

        @FUZZ_SETTINGS
        @given(case=operation.as_strategy())
        def fuzz(case: Case) -> None:
            call_as_client_and_admin(case)

        fuzz()
