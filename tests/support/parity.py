"""Feature parity: what the streaming worker stored in Redis against what an offline
replay of the same events gives, and the worker's own counts."""

from __future__ import annotations

import time
import urllib.request
from datetime import UTC, datetime

import redis
from prometheus_client.parser import text_string_to_metric_families

from deploy.harness import ServiceProcess
from offline.replay import FeatureReplay
from schemas.events import InboundEvent
from services.common.redis_keys import RedisKeys
from services.common.settings import ServiceSettings
from services.features.core import CustomerState, compute_features

Features = dict[str, float | None]


def events_counted(worker: ServiceProcess, outcome: str | None = None) -> int:
    """Records the feature worker has read since it started, from its /metrics: those with
    ``outcome`` (applied, duplicate, too_old, rejected, filed), or all of them."""
    with urllib.request.urlopen(f"{worker.base_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return int(
        sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "riskstream_features_events"
            for sample in family.samples
            if sample.name.endswith("_total")
            and (outcome is None or sample.labels.get("outcome") == outcome)
        )
    )


def offline_features(events: list[InboundEvent], as_of: datetime) -> dict[str, Features]:
    """What every customer's features are after a clean offline replay of ``events``."""
    replay = FeatureReplay()
    for event in sorted(events, key=lambda e: e.occurred_at):
        replay.apply(event)
    return {customer: replay.features(customer, as_of) for customer in replay.states()}


def redis_client(settings: ServiceSettings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url.get_secret_value(), socket_timeout=5.0)


def features_mismatches(
    settings: ServiceSettings, expected: dict[str, Features], as_of: datetime
) -> list[str]:
    """Customers whose state in Redis is missing or gives other features than expected."""
    keys = RedisKeys(settings.redis_key_prefix)
    customers = sorted(expected)
    client = redis_client(settings)
    try:
        stored = client.mget([keys.feature_state(c) for c in customers])
    finally:
        client.close()
    return [
        customer
        for customer, raw in zip(customers, stored, strict=True)
        if raw is None
        or compute_features(CustomerState.from_bytes(raw), as_of) != expected[customer]
    ]


def wait_for_feature_parity(
    settings: ServiceSettings, events: list[InboundEvent], timeout_s: float
) -> list[str]:
    """Polls until Redis holds, for every customer, the features an offline replay gives;
    returns the customers still wrong at the deadline (empty on success)."""
    as_of = datetime.now(UTC)
    expected = offline_features(events, as_of)
    deadline = time.monotonic() + timeout_s
    wrong = features_mismatches(settings, expected, as_of)
    while wrong and time.monotonic() < deadline:
        time.sleep(1.0)
        wrong = features_mismatches(settings, expected, as_of)
    return wrong


def stored_customer_count(settings: ServiceSettings) -> int:
    """How many customers have feature state in Redis under this test's key prefix."""
    pattern = RedisKeys(settings.redis_key_prefix).feature_state("*")
    client = redis_client(settings)
    try:
        return sum(1 for _ in client.scan_iter(match=pattern, count=1000))
    finally:
        client.close()
