"""The recovery drill (``make drill``, and a part of ``make bench``): everything Redis holds is
rebuilt from Kafka, starting from an empty Redis and a feature worker with an empty state
directory, and timed.

Kafka is seeded first with what a platform of ``customers`` customers keeps there: the
feature worker's table changelog (one realistic state per customer: simulated customers'
histories, replayed, under new ids) and ``warning.state`` (each customer's warning state
after a score, judged by the default rules). The event topics and ``risk.scores`` are
empty, as when every record has been processed and committed. Then a feature worker and a
warning service start on an empty Redis; each is ready once its keys are rewritten and its
epoch key is whole. The drill reports the seconds from their start to both being ready,
the same per 100,000 customers, and the rebuild rate they ran at.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from redis.asyncio import Redis

from bench.feature_service import directory_bytes, resident_bytes
from bench.report import drill_section
from deploy.harness import BackingServices, ServiceProcess, isolated_settings, service_environment
from deploy.platform.paths import REPO_ROOT
from offline.replay import FeatureReplay
from schemas.features import FEATURE_SCHEMA
from schemas.scores import ScoreRecord
from services.common.kafka import ensure_topics, make_producer
from services.common.redis_client import as_bytes
from services.common.redis_keys import RedisKeys, Writer, epoch_covers
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from services.features.core import CustomerState, compute_features
from services.features.settings import FeaturesSettings
from services.warning.core import evaluate as judge
from services.warning.core import load_default_rules
from simulator import simulate

log = logging.getLogger("bench.drill")

DRILL_JSON = REPO_ROOT / "bench" / "drill.json"
DRILL_MD = REPO_ROOT / "bench" / "drill.md"
DEFAULT_CUSTOMERS = 100_000
TEMPLATES = 2_000
"""Simulated customers whose states are copied under new ids."""
READY_TIMEOUT_S = 1_800.0
GRADES = ("S", "A", "B", "C", "D")
GRADE_SCORES = {"S": 790, "A": 730, "B": 670, "C": 610, "D": 550}
RULES = load_default_rules()


def drill_customers() -> int:
    """``RISKSTREAM_DRILL_CUSTOMERS``, 100,000 by default."""
    return int(os.environ.get("RISKSTREAM_DRILL_CUSTOMERS", DEFAULT_CUSTOMERS))


def customer_id(number: int) -> str:
    return f"drill-{number:07d}"


def feature_states(customers: int) -> Iterator[tuple[str, bytes, dict[str, float | None]]]:
    """(customer, serialised state, features now) for ``customers`` customers, each a copy
    of a simulated customer's state under its own id."""
    now = datetime.now(UTC)
    simulated = simulate(customers=TEMPLATES, days=30, seed=5, start=now - timedelta(days=31))
    replay = FeatureReplay()
    for event in sorted(simulated.events, key=lambda e: e.occurred_at):
        replay.apply(event)
    templates = [
        (state.to_bytes(), compute_features(state, now)) for state in replay.states().values()
    ]
    for number in range(customers):
        data, features = templates[number % len(templates)]
        state = CustomerState.from_bytes(data)
        state.customer_id = customer_id(number)
        yield state.customer_id, state.to_bytes(), features


def warning_state(customer: str, features: dict[str, float | None], number: int) -> bytes:
    """The customer's warning state after one score, judged by the default rules."""
    grade = GRADES[number % len(GRADES)]
    now = datetime.now(UTC)
    record = ScoreRecord(
        score_id=f"{customer}-score",
        customer_id=customer,
        score=GRADE_SCORES[grade],
        probability_of_default=0.05,
        grade=grade,
        risk_level="green",
        credit_limit=5000.0,
        reasons=[],
        model_version="drill",
        feature_schema_version=FEATURE_SCHEMA.version,
        features=features,
        features_as_of=now,
        triggered_by=f"{customer}-event",
        scored_at=now,
    )
    return judge(RULES, None, record, now).state.to_json()


async def seed(settings: ServiceSettings, customers: int) -> dict[str, int]:
    """Produces the changelog and ``warning.state`` records; returns their total bytes."""
    features = FeaturesSettings(**settings.model_dump())
    changelog = features.state_changelog()
    await ensure_topics(settings, [changelog])
    warning_topic = settings.topics(Topic.WARNING_STATE)
    producer = make_producer(settings, linger_ms=50, max_batch_size=1_048_576)
    await producer.start()
    sizes = {"changelog_bytes": 0, "warning_state_bytes": 0}
    try:
        pending = []
        for number, (customer, state, values) in enumerate(feature_states(customers)):
            key = customer.encode()
            warning = warning_state(customer, values, number)
            sizes["changelog_bytes"] += len(state)
            sizes["warning_state_bytes"] += len(warning)
            pending.append(await producer.send(changelog.name, key=key, value=state))
            pending.append(await producer.send(warning_topic, key=key, value=warning))
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sizes


async def keys_rebuilt(settings: ServiceSettings) -> dict[str, int]:
    """How many customers' keys each writer has in Redis, and whether both epoch keys are
    whole (1) or not (0)."""
    redis = Redis.from_url(settings.redis_url.get_secret_value())
    keys = RedisKeys(settings.redis_key_prefix)
    try:
        patterns = {
            "features": keys.feature_state("*"),
            "warning": keys.warning_state("*"),
            "risk": keys.risk_state("*"),
        }
        counts = {
            name: sum([1 async for _ in redis.scan_iter(match=pattern, count=10_000)])
            for name, pattern in patterns.items()
        }
        epochs = await redis.mget([keys.epoch(writer) for writer in Writer])
        counts["epochs_whole"] = int(
            all(epoch_covers(as_bytes(value), settings.event_partitions) for value in epochs)
        )
        return counts
    finally:
        await redis.aclose()


def measure(backing: BackingServices, run_dir: Path, customers: int) -> dict[str, Any]:
    """Seeds Kafka on ``backing`` (whose Redis must be empty), starts the writers, and
    times the rebuild."""
    settings = isolated_settings(backing, "drill.")
    began = time.perf_counter()
    sizes = asyncio.run(seed(settings, customers))
    seed_s = time.perf_counter() - began
    log.warning("drill: seeded %d customers in %.0f s", customers, seed_s)
    env = {**service_environment(settings), "RISKSTREAM_LOG_LEVEL": "WARNING"}
    writers = [
        ServiceProcess(name, env, run_dir, timeout_s=READY_TIMEOUT_S)
        for name in ("features", "warning")
    ]
    ready_s: dict[str, float] = {}

    async def start(process: ServiceProcess) -> None:
        started = time.perf_counter()
        await asyncio.to_thread(process.start)
        ready_s[process.spec.name] = round(time.perf_counter() - started, 1)

    async def start_all() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(start(process) for process in writers))
        return time.perf_counter() - started

    try:
        rebuild_s = asyncio.run(start_all())
        counts = asyncio.run(keys_rebuilt(settings))
        worker = writers[0]
        assert worker.pid is not None
        # The worker holding every customer, its caches as full as serving them makes
        # them: the larger of the sizes its memory is read at (bench/feature_service.py).
        worker_memory = {
            "customers": customers,
            "worker_rss_bytes": resident_bytes(worker.pid),
            "rocksdb_dir_bytes": directory_bytes(worker.run_dir / "features"),
        }
    finally:
        for process in writers:
            process.stop()
    rate = ServiceSettings().redis_rebuild_rate
    return {
        "customers": customers,
        "seed_s": round(seed_s, 1),
        **sizes,
        "rebuild_s": round(rebuild_s, 1),
        "ready_s": ready_s,
        "seconds_per_100k_customers": round(rebuild_s * 100_000 / customers, 1),
        "rebuild_rate_per_writer": rate,
        "paced_floor_s_per_100k": round(100_000 / rate, 1),
        "keys": counts,
        "worker_memory": worker_memory,
        "complete": counts["epochs_whole"] == 1
        and counts["features"] == customers
        and counts["warning"] == customers
        and counts["risk"] == customers,
    }


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    customers = drill_customers()
    with tempfile.TemporaryDirectory(prefix="riskstream-drill-") as directory:
        backing = BackingServices(Path(directory))
        try:
            backing.start()
            drill = measure(backing, Path(directory) / "services", customers)
        finally:
            backing.close()
    DRILL_JSON.write_bytes(orjson.dumps(drill, option=orjson.OPT_INDENT_2) + b"\n")
    DRILL_MD.write_text("\n".join(["# riskstream recovery drill", "", *drill_section(drill)[3:]]))
    print(
        f"drill: {drill['customers']:,} customers rebuilt in {drill['rebuild_s']} s "
        f"({drill['seconds_per_100k_customers']} s per 100k customers); "
        f"complete: {drill['complete']}"
    )
    return 0 if drill["complete"] else 1


if __name__ == "__main__":
    sys.exit(main())
