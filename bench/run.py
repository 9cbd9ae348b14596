"""``python -m bench.run`` (``make bench``): brings up a riskstream platform of its own
(Kafka, Redis, feature worker, scorer, warning service) on free ports in a temporary
directory, so a platform started by ``make up`` is neither needed nor disturbed; runs
every benchmark; writes ``bench/report.md`` and ``bench/report.json`` with the previous
report's headline figures beside the new ones. About three minutes on two cores.

Order: the model micro-benchmark first (in this process, before any service competes
for the CPU), then the score API, the feature service against a bare consumer (with a
worker of its own on a topic prefix of its own), the end-to-end latencies, and the
recovery drill (``bench/drill.py``) last, once the other services are stopped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import orjson
import uvloop

from bench import drill, feature_service, inference, pipeline, score_api
from bench.machine import machine_facts
from bench.profiles import cpu_seconds, read_profile, start_recording
from bench.report import headline, render_markdown
from deploy.harness import BackingServices, ServiceProcess
from deploy.platform.kafka import create_topics
from deploy.platform.paths import REPO_ROOT
from services.common.settings import DEVELOPMENT_CLIENT_KEY, ServiceSettings

REPORT_DIR = REPO_ROOT / "bench"
REPORT_JSON = REPORT_DIR / "report.json"
REPORT_MD = REPORT_DIR / "report.md"
FEATURE_PREFIX = "fbench."
MEASURED_RATES = (200, 1000)
RAMP_UP = (1500, 2000, 3000, 4000)
RAMP_DOWN = (600, 400)
WARM_UP_RATE, WARM_UP_S = 1000, 10.0
PROFILES_KEPT = REPO_ROOT / ".run" / "bench" / "profiles"

log = logging.getLogger("bench")
T = TypeVar("T")


class Timings:
    """Seconds spent in each part of the run, in order."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        log.warning("bench: %s ...", name)
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - began, 1)
            log.warning("bench: %s took %.0f s", name, self.seconds[name])


def previous_report(path: Path) -> dict[str, Any]:
    """The committed report's date and headline figures ({} when there is none)."""
    try:
        report = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return {"date": report.get("machine", {}).get("date"), "headline": report.get("headline")}


def kafka_version(lib_dir: Path) -> str | None:
    jars = sorted(lib_dir.glob("kafka_2.13-*.jar"))
    return jars[0].name.removeprefix("kafka_2.13-").removesuffix(".jar") if jars else None


def service_env(backing: BackingServices, bundle: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "RISKSTREAM_ENV": "development",
        "RISKSTREAM_KAFKA_BOOTSTRAP_SERVERS": backing.kafka_bootstrap,
        "RISKSTREAM_REDIS_URL": backing.redis_url,
        "RISKSTREAM_DEFAULT_BUNDLE": str(bundle),
        "RISKSTREAM_CONTROL_WAIT_S": "2",
        "RISKSTREAM_LOG_LEVEL": "WARNING",
        **extra,
    }


async def _pipeline(
    settings: ServiceSettings,
    processes: dict[str, ServiceProcess],
    servers: dict[str, int],
    profile_dir: Path,
) -> dict[str, Any]:
    background = await asyncio.to_thread(feature_service.simulated_events, 1000, 99)
    rates: dict[str, Any] = {}
    pids = {name: p.pid for name, p in processes.items() if p.pid is not None} | servers

    async def step(rate: int, seconds: float) -> bool:
        floor = await pipeline.broker_floor(settings, rate, 5.0)
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        run = await pipeline.pipeline_latency(settings, background, rate, seconds, f"r{rate}")
        cpu = cpu_per_event(cpu_before, {n: cpu_seconds(p) for n, p in pids.items()}, run)
        rates[str(rate)] = {**run, "broker_floor": floor, "cpu_us_per_event": cpu}
        log.warning("bench: %s events/s: %s", rate, run["event_to_action"])
        return bool(run["sustained"])

    # Not reported: the broker's JIT and the services' first reads of each customer make
    # the first seconds at any rate slower than the steady state the steps measure.
    await pipeline.pipeline_latency(settings, background, WARM_UP_RATE, WARM_UP_S, "warm-up")
    for rate in MEASURED_RATES:
        await step(rate, 15.0 if rate < 1000 else 10.0)
    ramp = RAMP_UP if rates["1000"]["sustained"] else RAMP_DOWN
    for rate in ramp:
        sustained = await step(rate, 10.0)
        if sustained != (ramp is RAMP_UP):
            break
    sustained_rates = [int(r) for r, run in rates.items() if run["sustained"]]
    profile_rate = min(1000, max(sustained_rates, default=200))
    profile_s = 6.0
    recordings = {
        name: start_recording(process.pid, profile_s, profile_dir / f"e2e-{name}.txt")
        for name, process in processes.items()
        if process.pid is not None
    }
    await pipeline.pipeline_latency(settings, background, profile_rate, profile_s + 1, "profile")
    profiles = {name: read_profile(recording) for name, recording in recordings.items()}
    return {
        "relay_floor": await pipeline.relay_floor(settings),
        "rates": rates,
        "highest_sustained_rate": max(sustained_rates, default=None),
        "profile_rate": profile_rate,
        "profiles": profiles,
    }


async def _services(
    backing: BackingServices, bundle: Path, run_dir: Path, timings: Timings
) -> dict[str, Any]:
    profile_dir = run_dir / "profiles"
    settings = ServiceSettings(
        kafka_bootstrap_servers=backing.kafka_bootstrap, redis_url=backing.redis_url
    )
    feature_settings = settings.model_copy(
        update={"topic_prefix": FEATURE_PREFIX, "redis_key_prefix": FEATURE_PREFIX.rstrip(".")}
    )
    create_topics(backing.kafka_bootstrap, settings)
    create_topics(backing.kafka_bootstrap, feature_settings)
    env = service_env(backing, bundle)
    started: list[ServiceProcess] = []

    def start(name: str, environment: dict[str, str]) -> ServiceProcess:
        process = ServiceProcess(name, environment, run_dir)
        started.append(process)
        return process.start()

    results: dict[str, Any] = {}
    try:
        with timings.part("services start"):
            processes = {
                name: await asyncio.to_thread(start, name, env)
                for name in ("features", "scorer", "warning")
            }
        scorer = processes["scorer"]
        assert scorer.pid is not None
        with timings.part("score API"):
            results["score_api"] = await score_api.measure(
                scorer.port,
                scorer.pid,
                DEVELOPMENT_CLIENT_KEY,
                backing.redis_url,
                settings.redis_key_prefix,
                profile_dir,
            )
        idle_worker = processes["features"].pid
        assert idle_worker is not None
        feature_env = service_env(
            backing,
            bundle,
            RISKSTREAM_TOPIC_PREFIX=feature_settings.topic_prefix,
            RISKSTREAM_REDIS_KEY_PREFIX=feature_settings.redis_key_prefix,
        )
        worker = ServiceProcess("features", feature_env, run_dir)
        started.append(worker)
        with timings.part("feature service"):
            results["feature_service"] = await feature_service.measure(
                feature_settings, worker, idle_worker, profile_dir
            )
        await asyncio.to_thread(worker.stop)
        with timings.part("end to end"):
            results["end_to_end"] = await _pipeline(settings, processes, backing.pids, profile_dir)
        for process in reversed(started):
            await asyncio.to_thread(process.stop)
        with timings.part("recovery drill"):
            results["recovery_drill"] = await asyncio.to_thread(
                drill.measure, backing, run_dir / "drill", drill.drill_customers()
            )
        # The worker's memory at the feature service's larger size and at the drill's.
        results["worker_memory_at_scale"] = feature_service.two_sizes(
            results["feature_service"]["memory_larger"],
            results["recovery_drill"]["worker_memory"],
        )
    finally:
        for process in reversed(started):
            await asyncio.to_thread(process.stop)
    return results


def cpu_per_event(
    before: dict[str, float | None], after: dict[str, float | None], run: dict[str, Any]
) -> dict[str, float | None]:
    """CPU time each process spent over a pipeline step (the load and the drain after it),
    in microseconds per event sent, and their ``total`` (None unless every process was
    measured): a figure the machine's load does not distort."""
    events = run.get("events") or 0
    result: dict[str, float | None] = {}
    for name, start in before.items():
        end = after.get(name)
        result[name] = (
            None
            if start is None or end is None or not events
            else round(1e6 * (end - start) / events, 1)
        )
    known = [value for value in result.values() if value is not None]
    result["total"] = round(sum(known), 1) if len(known) == len(result) else None
    return result


def _run_async(factory: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await factory()

    return uvloop.run(main())


def run(run_dir: Path) -> dict[str, Any]:
    """Every benchmark, in a platform of its own under ``run_dir``; the report as a dict."""
    began = time.perf_counter()
    timings = Timings()
    previous = previous_report(REPORT_JSON)
    bundle = run_dir / "bundle"
    results: dict[str, Any] = {}
    with timings.part("model training and inference"):
        results["inference"] = inference.measure(bundle, run_dir / "profiles")
    backing = BackingServices(run_dir)
    try:
        with timings.part("kafka and redis start"):
            backing.start()
        machine = machine_facts(REPO_ROOT, kafka_version(backing.kafka_lib_dir) or "unknown")
        results.update(_run_async(lambda: _services(backing, bundle, run_dir, timings)))
    finally:
        backing.close()
        shutil.rmtree(PROFILES_KEPT, ignore_errors=True)
        shutil.copytree(run_dir / "profiles", PROFILES_KEPT, dirs_exist_ok=True)
    report: dict[str, Any] = {
        "machine": machine,
        "duration_s": round(time.perf_counter() - began, 1),
        "timings_s": timings.seconds,
        "headline": headline(results),
        "previous": previous,
        "raw_profiles": str(PROFILES_KEPT.relative_to(REPO_ROOT)),
        "results": results,
    }
    return report


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="riskstream-bench-") as directory:
        report = run(Path(directory))
    REPORT_JSON.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    REPORT_MD.write_text(render_markdown(report))
    print(f"wrote {REPORT_MD} and {REPORT_JSON} in {report['duration_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
