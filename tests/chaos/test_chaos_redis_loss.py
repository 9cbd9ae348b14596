"""Redis is a copy, never the record: the store flushed, then restarted empty, then paused
in the middle of a rebuild, under a running feature worker, warning service and scorer.
Each time the writers notice their missing epoch keys and rebuild their keys from Kafka
without a restart, the scorer answers ``store_rebuilding`` meanwhile, and a checkout
prober scoring frozen customers on credit the whole time never gets an approval.

The writers rebuild at 100 customers a second here, so each rebuild lasts a few seconds
and can be caught running. "State is back" means: every customer's features equal an
offline replay, both epoch keys are whole, the frozen customers read as frozen from the
warning service, and the scorer answers from the model again; each time within
``RECOVERY_S``."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from bench.chaos.prober import CheckoutProber, answer_mix, approvals
from deploy.harness import BackingServices, ServiceProcess
from services.common.redis_keys import RedisKeys, Writer, epoch_covers
from services.common.settings import ServiceSettings
from tests.chaos.chaos_support import restart_redis_empty
from tests.services.scorer.scorer_bundles import build_bundle
from tests.support.parity import redis_client, wait_for_feature_parity
from tests.support.polling import wait_until
from tests.support.streams import produce_events, simulated_events

pytestmark = pytest.mark.integration

CLIENT = {"Authorization": "Bearer dev-client-key"}
ADMIN = {"Authorization": "Bearer dev-admin-key"}
RECOVERY_S = 60.0
"""The stated time within which the state is back after each loss."""
SLOW_REBUILD = {"RISKSTREAM_REDIS_REBUILD_RATE": "100", "RISKSTREAM_REDIS_REBUILD_BATCH": "20"}
GENEROUS_THIN_FILE = {"probability_of_default": 0.03, "grade": "B", "credit_limit": 5000.0}
"""What a customer never seen gets: a 500 CNY BNPL order is approved, as in the incident
this guards against (a frozen customer whose keys were lost looked new)."""


def store_complete(settings: ServiceSettings) -> bool:
    keys = RedisKeys(settings.redis_key_prefix)
    client = redis_client(settings)
    try:
        values = client.mget([keys.epoch(Writer.FEATURES), keys.epoch(Writer.WARNING)])
    finally:
        client.close()
    return all(epoch_covers(v, settings.event_partitions) for v in values)


def risk_status(warning: ServiceProcess, customer_id: str) -> str | None:
    response = httpx.get(
        f"{warning.base_url}/v1/customers/{customer_id}/risk", headers=CLIENT, timeout=5
    )
    return response.json()["status"] if response.status_code == 200 else None


def store_says(process: ServiceProcess) -> str | None:
    try:
        return httpx.get(f"{process.base_url}/ready", timeout=2).json().get("store")
    except httpx.HTTPError:
        return None


def metric_total(process: ServiceProcess, name: str) -> float:
    text = httpx.get(f"{process.base_url}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


def test_redis_flushed_restarted_empty_and_paused_mid_rebuild_never_approves_the_frozen(
    platform: BackingServices,
    service_settings: ServiceSettings,
    start_service: Callable[..., ServiceProcess],
    tmp_path: Path,
) -> None:
    bundle = build_bundle(tmp_path / "bundle", "loss-v1", thin_file=GENEROUS_THIN_FILE)
    features = start_service("features", **SLOW_REBUILD)
    warning = start_service("warning", **SLOW_REBUILD)
    scorer = start_service(
        "scorer",
        RISKSTREAM_MODEL_REGISTRY_DIR=str(tmp_path / "registry"),
        RISKSTREAM_DEFAULT_BUNDLE=str(bundle),
        RISKSTREAM_LOG_LEVEL="WARNING",
    )
    events = simulated_events(customers=200, seed=41)
    asyncio.run(produce_events(service_settings, events))
    assert wait_for_feature_parity(service_settings, events, timeout_s=120) == []
    customers = sorted({e.customer_id for e in events})
    frozen = [*customers[:3], "never-ordered"]
    for customer in frozen:
        response = httpx.post(
            f"{warning.base_url}/v1/customers/{customer}/overrides",
            json={"action": "freeze_credit", "reason": "chargeback fraud confirmed"},
            headers=ADMIN,
            timeout=10,
        )
        assert response.status_code == 201, response.text
    good = customers[-1]

    def model_answers() -> bool:
        response = httpx.post(
            f"{scorer.base_url}/v1/score",
            json={
                "customer_id": good,
                "order": {"amount": 50, "currency": "CNY", "payment_method": "card"},
            },
            headers=CLIENT,
            timeout=5,
        )
        return response.status_code == 200 and response.json()["fallback"] is False

    def state_is_back() -> bool:
        return (
            store_complete(service_settings)
            and all(risk_status(warning, c) == "frozen" for c in frozen)
            and model_answers()
            and wait_for_feature_parity(service_settings, events, timeout_s=0) == []
        )

    wait_until(state_is_back, timeout_s=RECOVERY_S, what="the platform settled")
    prober = CheckoutProber(lambda: [scorer.base_url], lambda: frozen, "dev-client-key").start()
    seen_rebuilding: dict[str, set[str]] = {"features": set(), "warning": set()}

    def rebuilding_seen() -> bool:
        for name, process in (("features", features), ("warning", warning)):
            if store_says(process) == "rebuilding":
                seen_rebuilding[name].add(phase)
        return all(phase in seen for seen in seen_rebuilding.values())

    recovery_s: dict[str, float] = {}
    try:
        phase = "flushed"
        lost_at = time.monotonic()
        redis_client(service_settings).flushall()
        wait_until(rebuilding_seen, timeout_s=30, what="both writers rebuilding after a flush")
        wait_until(state_is_back, timeout_s=RECOVERY_S, what="state back after FLUSHALL")
        recovery_s[phase] = time.monotonic() - lost_at

        phase = "restarted empty"
        lost_at = time.monotonic()
        restart_redis_empty(platform)
        wait_until(state_is_back, timeout_s=RECOVERY_S, what="state back after an empty restart")
        recovery_s[phase] = time.monotonic() - lost_at

        phase = "paused mid-rebuild"
        lost_at = time.monotonic()
        client = redis_client(service_settings)
        redis_pid = int(client.info("server")["process_id"])
        client.flushall()
        wait_until(rebuilding_seen, timeout_s=30, what="both writers rebuilding before the pause")
        os.kill(redis_pid, signal.SIGSTOP)
        try:
            time.sleep(3.0)  # Redis hangs for a while in the middle of the rebuild
        finally:
            os.kill(redis_pid, signal.SIGCONT)
        wait_until(state_is_back, timeout_s=RECOVERY_S, what="state back after a paused rebuild")
        recovery_s[phase] = time.monotonic() - lost_at
    finally:
        probes = prober.stop()

    print(f"recovery seconds: {recovery_s}; answers to the prober: {dict(answer_mix(probes))}")
    assert approvals(probes) == []
    mix = answer_mix(probes)
    assert mix["store_rebuilding"] > 0
    assert mix["model"] > 0
    # Every rebuild was counted and alerted on, and every key rewritten was counted.
    assert metric_total(features, "riskstream_redis_rebuilds_total") >= 3
    assert metric_total(warning, "riskstream_redis_rebuilds_total") >= 3
    assert metric_total(features, "riskstream_redis_rebuilt_keys_total") >= 3 * len(customers)
    assert metric_total(warning, "riskstream_redis_rebuilt_keys_total") >= 3 * 2 * len(frozen)
