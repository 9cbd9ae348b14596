"""The services and a Prometheus of their own, on the session's Kafka and Redis: traffic
goes through ingest, the feature worker, the scorer and the warning service; then every
dashboard panel's query must return data from that Prometheus, every alert and recording
rule expression must evaluate, and no service log may carry a customer id or an API key."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml

from deploy.harness import ServiceProcess
from deploy.platform.paths import REPO_ROOT
from deploy.platform.processes import free_ports, stop
from deploy.platform.prometheus import PROMETHEUS_DIR, start_prometheus
from services.common.kafka import make_producer
from services.common.redis_keys import RedisKeys
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from tests.services.scorer.scorer_bundles import build_bundle, customer_state
from tests.services.scorer.test_scorer_metrics import with_drift_baseline
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

CLIENT_KEY = "dev-client-key"
ADMIN_KEY = "dev-admin-key"
CLIENT = {"Authorization": f"Bearer {CLIENT_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
CUSTOMERS = 40
EVENTS_PER_CUSTOMER = 4


def events_for(customer_id: str, now: datetime) -> list[dict[str, Any]]:
    """An order and a failed charge per round: enough to move features and scores. No id
    contains the customer id, so finding it in a log means the customer id was logged."""
    events: list[dict[str, Any]] = []
    for i in range(EVENTS_PER_CUSTOMER // 2):
        at = (now - timedelta(minutes=30 - i)).isoformat()
        order_id = uuid.uuid4().hex
        events.append(
            {
                "event_id": uuid.uuid4().hex,
                "event_type": "order",
                "customer_id": customer_id,
                "occurred_at": at,
                "schema_version": 1,
                "order_id": order_id,
                "amount": "250.00",
                "currency": "CNY",
                "payment_method": "bnpl",
                "status": "placed",
                "item_count": 1,
                "channel": "app",
            }
        )
        events.append(
            {
                "event_id": uuid.uuid4().hex,
                "event_type": "payment",
                "customer_id": customer_id,
                "occurred_at": at,
                "schema_version": 1,
                "order_id": order_id,
                "payment_id": uuid.uuid4().hex,
                "amount": "250.00",
                "currency": "CNY",
                "kind": "charge",
                "status": "failed",
            }
        )
    return events


def metric_total(process: ServiceProcess, prefix: str) -> float:
    text = httpx.get(f"{process.base_url}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix) and not line.startswith("#")
    )


def query(prometheus: str, expression: str) -> dict[str, Any]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expression}, timeout=10)
    body: dict[str, Any] = answer.json()
    return body


def panel_queries() -> list[tuple[str, str]]:
    queries = []
    for path in sorted((REPO_ROOT / "deploy" / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                queries.append((f"{path.stem}: {panel['title']}", target["expr"]))
    return queries


def rule_expressions() -> list[tuple[str, str]]:
    return [
        (rule.get("alert") or rule["record"], rule["expr"])
        for path in sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def test_traffic_fills_every_panel_and_the_logs_carry_no_customer_id_or_key(
    start_service: Callable[..., ServiceProcess],
    service_settings: ServiceSettings,
    tmp_path: Path,
) -> None:
    bundles = tmp_path / "bundles"
    v1 = with_drift_baseline(build_bundle(bundles / "v1", "obs-v1", bias=-3.0))
    v2 = build_bundle(bundles / "v2", "obs-v2", bias=-1.5)
    ingest = start_service("ingest", RISKSTREAM_LOG_LEVEL="DEBUG")
    features = start_service("features", RISKSTREAM_LOG_LEVEL="DEBUG")
    scorer = start_service(
        "scorer",
        RISKSTREAM_DEFAULT_BUNDLE=str(v1),
        RISKSTREAM_MODEL_REGISTRY_DIR=str(tmp_path / "registry"),
        RISKSTREAM_LOG_LEVEL="DEBUG",
    )
    warning = start_service("warning", RISKSTREAM_LOG_LEVEL="DEBUG")
    services = {"ingest": ingest, "features": features, "scorer": scorer, "warning": warning}
    (prometheus_port,) = free_ports(1)
    prometheus_handle = start_prometheus(
        tmp_path / "prometheus-run",
        prometheus_port,
        {name: process.port for name, process in services.items()},
        scrape_interval="1s",
    )
    prometheus = f"http://127.0.0.1:{prometheus_port}"
    try:
        marker = uuid.uuid4().hex[:10]
        customers = [f"obs-{marker}-{i:03d}" for i in range(CUSTOMERS)]
        now = datetime.now(UTC)
        events = [event for customer in customers for event in events_for(customer, now)]
        answer = httpx.post(
            f"{ingest.base_url}/v1/events:batch",
            json={"events": events},
            headers=CLIENT,
            timeout=30,
        )
        assert answer.status_code == 202, answer.text

        topic = service_settings.topics(Topic.ORDERS)

        async def send_malformed() -> None:
            producer = make_producer(service_settings)
            await producer.start()
            try:
                await producer.send_and_wait(topic, b"{not json", key=customers[0].encode())
            finally:
                await producer.stop()

        asyncio.run(send_malformed())
        wait_until(
            lambda: metric_total(warning, "riskstream_warning_scores_total") >= len(events),
            120,
            "the warning service to judge every streamed score",
        )

        stale = f"obs-{marker}-stale"
        client = redis.Redis.from_url(service_settings.redis_url.get_secret_value())
        client.set(
            RedisKeys(service_settings.redis_key_prefix).feature_state(stale),
            customer_state(stale, now - timedelta(days=200)).to_bytes(),
        )
        client.close()
        published = httpx.post(
            f"{scorer.base_url}/v1/models",
            json={"path": str(v2), "reason": "challenger"},
            headers=ADMIN,
            timeout=30,
        )
        assert published.status_code in (200, 201), published.text
        refused = httpx.post(
            f"{scorer.base_url}/v1/models",
            json={"path": str(tmp_path / "no-such-bundle"), "reason": "broken"},
            headers=ADMIN,
            timeout=30,
        )
        assert refused.status_code >= 400
        shadowed = httpx.post(
            f"{scorer.base_url}/v1/models/obs-v2:shadow",
            json={"reason": "compare"},
            headers=ADMIN,
            timeout=30,
        )
        assert shadowed.status_code == 200, shadowed.text
        for customer in [*customers, stale]:
            scored = httpx.post(
                f"{scorer.base_url}/v1/score",
                json={"customer_id": customer, "order": {"amount": 99.0, "currency": "CNY",
                                                        "payment_method": "bnpl"}},
                headers=CLIENT,
                timeout=10,
            )  # fmt: skip
            assert scored.status_code == 200, scored.text
        bad_rules = httpx.put(
            f"{warning.base_url}/v1/rules", content=b"rules: [", headers=ADMIN, timeout=10
        )
        assert bad_rules.status_code == 422
        override = httpx.post(
            f"{warning.base_url}/v1/customers/{customers[1]}/overrides",
            json={"action": "freeze_credit", "reason": "fraud team request"},
            headers=ADMIN,
            timeout=10,
        )
        assert override.status_code == 201, override.text

        panels = panel_queries()

        def empty_panels() -> list[str]:
            return [
                f"{panel}: {expression}"
                for panel, expression in panels
                if not query(prometheus, expression)["data"]["result"]
            ]

        deadline = time.monotonic() + 90
        missing = empty_panels()
        while missing and time.monotonic() < deadline:
            time.sleep(2)
            missing = empty_panels()
        assert missing == []

        for name, expression in rule_expressions():
            answer_body = query(prometheus, expression)
            assert answer_body["status"] == "success", (name, answer_body)

        rules_api = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()
        unhealthy = [
            rule["name"]
            for group in rules_api["data"]["groups"]
            for rule in group["rules"]
            if rule["health"] != "ok"
        ]
        assert unhealthy == []
    finally:
        stop(prometheus_handle)

    logs = {name: process.log_text() for name, process in services.items()}
    assert all(logs.values()), "every service wrote a log"
    for name, text in logs.items():
        assert marker not in text, f"{name} logged a raw customer id"
        assert CLIENT_KEY not in text, f"{name} logged the client key"
        assert ADMIN_KEY not in text, f"{name} logged the admin key"
