"""The feature worker's web port serves health and metrics only: faust's built-in pages,
which would hand out table contents (customers' state) and topology to anyone reaching the
port, are off."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from deploy.harness import ServiceProcess

pytestmark = pytest.mark.integration

FAUST_PAGES = [
    "/router/",
    "/router/customer-state/",
    "/router/customer-state/c1/",
    "/table/",
    "/table/customer-state/",
    "/table/customer-state/c1/",
    "/stats/",
    "/assignment/",
    "/graph/",
]


def test_only_health_and_metrics_are_served(start_service: Callable[..., ServiceProcess]) -> None:
    worker = start_service("features")
    with httpx.Client(base_url=worker.base_url, timeout=5.0) as http:
        ours = {path: http.get(path).status_code for path in ("/live", "/ready", "/metrics")}
        faust = {path: http.get(path).status_code for path in FAUST_PAGES}
    assert ours == {"/live": 200, "/ready": 200, "/metrics": 200}
    assert faust == dict.fromkeys(FAUST_PAGES, 404)
