"""The three HTTP services as in-process ASGI apps over in-memory fakes (no Kafka, no Redis),
each with a model or rule set loaded so that every route can do its real work."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi import FastAPI

from riskmodel.loading import open_bundle
from schemas.features import FEATURE_SCHEMA
from services.common.changes import ChangeDesk
from services.common.clock import SystemClock
from services.common.http import readiness_from
from services.common.topics import TopicNames
from services.ingest.api import create_app as create_ingest_app
from services.ingest.core import EventGateway
from services.ingest.settings import IngestSettings
from services.scorer.ports import StoredCustomer
from services.warning.api import create_app as create_warning_app
from services.warning.core import DEFAULT_RULES_PATH
from services.warning.settings import WarningSettings
from services.warning.wiring import rules_applier
from tests.services.ingest.test_ingest_api import FakePublisher
from tests.services.scorer.scorer_bundles import build_bundle, customer_state
from tests.services.scorer.test_scorer_api import AUDITOR_KEY
from tests.services.scorer.test_scorer_api import Service as ScorerService
from tests.services.warning.test_warning_api import Stack as WarningStack

CLIENT_KEY = "dev-client-key"
ADMIN_KEY = "dev-admin-key"
CLIENT = {"Authorization": f"Bearer {CLIENT_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
APPROVER = {"Authorization": "Bearer dev-approver-key"}
ANALYST = {
    "Authorization": "Bearer dev-console-key",
    "X-Riskstream-Actor": "ana",
    "X-Riskstream-Actor-Role": "analyst",
}
"""A console user, as the console's delegate key presents them."""
AUDITOR = {"Authorization": f"Bearer {AUDITOR_KEY}"}


def ingest_app(_: Path) -> FastAPI:
    publisher = FakePublisher()
    gateway = EventGateway(publisher, TopicNames(), SystemClock())
    return create_ingest_app(IngestSettings(env="test"), gateway, publisher)


def scorer_app(tmp_path: Path) -> FastAPI:
    """A scorer serving a published, active bundle, with one known customer ``c1``."""
    service = ScorerService(tmp_path)
    entry, _ = service.registry.publish(build_bundle(tmp_path / "bundle", "v1"))
    service.registry.record_activation(entry.model_version)
    service.holder.swap("active", open_bundle(entry.path, FEATURE_SCHEMA))
    service.store.records["c1"] = StoredCustomer(
        customer_state("c1", datetime.now(UTC), failed_payments=1).to_bytes(), None
    )
    return service.app


def warning_app(tmp_path: Path) -> FastAPI:
    tmp_path.mkdir(parents=True, exist_ok=True)
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_bytes(DEFAULT_RULES_PATH.read_bytes())
    stack = WarningStack(rules_path)

    async def ready() -> bool:
        return True

    settings = WarningSettings(env="test", rules_path=rules_path)
    changes = ChangeDesk(
        "warning", stack.changes, stack.clock, {"rules": rules_applier(settings, stack.rulebook)}
    )
    return create_warning_app(
        settings, stack.desk, stack.rulebook, changes, readiness_from([("kafka_consumer", ready)])
    )


APP_FACTORIES: dict[str, Callable[[Path], FastAPI]] = {
    "ingest": ingest_app,
    "scorer": scorer_app,
    "warning": warning_app,
}
"""Every HTTP service of the platform, by name."""


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service")
