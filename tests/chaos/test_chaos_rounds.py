"""A short run of the chaos verifier (``make chaos`` runs the long one) on the three-broker
cluster: ingest, one feature worker, scorer and warning service, a stream of simulated
events posted to ingest, a checkout prober on frozen customers, and four rounds of
faults: one broker killed with SIGKILL mid-stream (and brought back), Redis flushed, the
feature worker killed with SIGKILL, and a rolling restart of all three brokers. Then every
check of the verifier must pass: ingest answered 202 throughout (a broker lost goes
unnoticed by clients), every accepted event applied once (features equal an offline
replay), every update scored, every action the rules imply issued and no other, warning
states as the replay leaves them, and no frozen customer approved on credit at any
moment."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos.run import ChaosRun, ChaosSettings
from deploy.harness import BackingServices
from services.common.settings import ServiceSettings
from tests.services.scorer.scorer_bundles import build_bundle

pytestmark = pytest.mark.integration

SHORT_RUN = ChaosSettings(
    rounds=4,
    round_s=4.0,
    event_rate=20.0,
    instances=1,
    max_instances=2,
    frozen_customers=6,
    schedule="broker,flush redis,kill features,roll",
)
GENEROUS_THIN_FILE = {"probability_of_default": 0.03, "grade": "B", "credit_limit": 5000.0}
"""A customer never seen gets credit: a frozen customer taken for a new one would show."""


async def test_a_short_chaos_run_passes_every_check(
    replicated_platform: BackingServices,
    replicated_settings: ServiceSettings,
    tmp_path: Path,
) -> None:
    bundle = build_bundle(tmp_path / "bundle", "chaos-v1", thin_file=GENEROUS_THIN_FILE)
    run = ChaosRun(replicated_platform, replicated_settings, SHORT_RUN, bundle, tmp_path)

    verdict = await run.run()

    print(verdict.line())
    assert verdict.passed, verdict.examples
    assert verdict.events > 0
    assert verdict.probes > 0
