"""The feature service's event rate against a bare aiokafka consumer reading the same topics
on the same broker, and the memory its state takes per 10,000 customers.

Simulated events are written to the four event topics of a topic prefix of their own
first. The bare consumer then reads them all (no group, no processing: the floor any
Kafka consumer in Python pays); then the faust floor (``bench.faust_floor``: the worker's
faust app with a bare relay agent, the floor any faust worker pays); then a feature worker
of its own, on that prefix, consumes the same records from the start. Each rate is taken
between 10% and 90% of the records done, so start-up (group join, recovery) and the tail
are left out.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

from bench.profiles import Recording, cpu_seconds, read_profile, start_recording
from bench.stats import counter_total, per_10k, ratio, steady_rate
from deploy.harness import ServiceProcess
from deploy.platform.paths import REPO_ROOT
from deploy.platform.processes import free_ports
from schemas.events import InboundEvent
from services.common.kafka import client_kwargs, make_producer
from services.common.redis_keys import RedisKeys
from services.common.settings import ServiceSettings
from services.common.topics import EVENT_TOPICS
from simulator import simulate

EVENTS_COUNTER = "riskstream_features_events_total"
SIMULATION_DAYS = 60


def simulated_events(customers: int, seed: int) -> list[InboundEvent]:
    """``customers`` simulated customers' last 60 days, in event-time order."""
    start = datetime.now(UTC) - timedelta(days=SIMULATION_DAYS)
    return simulate(customers=customers, days=SIMULATION_DAYS, seed=seed, start=start).events


def event_bytes(event: InboundEvent) -> bytes:
    """The event as a producer puts it on its topic (contract JSON, nulls left out)."""
    return orjson.dumps(event.model_dump(mode="json", exclude_none=True))


async def produce(settings: ServiceSettings, events: Sequence[InboundEvent]) -> float:
    """Writes ``events`` to their topics (key = customer id) as fast as the broker takes
    them; returns the seconds it took."""
    producer = make_producer(settings, linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    began = time.perf_counter()
    try:
        pending = [
            await producer.send(
                settings.topics.event_topic(event.event_type),
                value=event_bytes(event),
                key=event.customer_id.encode(),
            )
            for event in events
        ]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - began


async def bare_consumer_rate(
    settings: ServiceSettings, total: int, decode: bool = False
) -> dict[str, Any]:
    """Reads every record of the event topics from the start with a plain consumer; with
    ``decode``, also parses each value as JSON (the least any consumer of events does)."""
    topics = [settings.topics(topic) for topic in EVENT_TOPICS.values()]
    consumer = AIOKafkaConsumer(
        *topics,
        **client_kwargs(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    samples: list[tuple[float, int]] = []
    done = 0
    began = time.perf_counter()
    try:
        while done < total and time.perf_counter() - began < 120:
            batches = await consumer.getmany(timeout_ms=500, max_records=1000)
            for records in batches.values():
                done += len(records)
                if decode:
                    for record in records:
                        orjson.loads(record.value or b"null")
            samples.append((time.perf_counter(), done))
    finally:
        await consumer.stop()
    return {
        "records": done,
        "events_per_s": _rounded(steady_rate(samples, total)),
        "seconds": round(time.perf_counter() - began, 2),
    }


@dataclass
class Progress:
    """Records done by a process over time, and its CPU time between a tenth and nine
    tenths of ``total`` (where the rate is taken too)."""

    total: int
    pid: int
    samples: list[tuple[float, int]] = field(default_factory=list)
    cpu: list[tuple[float, int]] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.samples[-1][1] if self.samples else 0

    def add(self, done: int) -> None:
        self.samples.append((time.perf_counter(), done))
        if self.total // 10 <= done <= self.total * 9 // 10:
            used = cpu_seconds(self.pid)
            if used is not None:
                self.cpu.append((used, done))

    def summary(self) -> dict[str, Any]:
        """``records``, ``events_per_s`` (steady) and ``cpu_us_per_record`` (None when
        the window saw too few samples)."""
        cpu_us = None
        if len(self.cpu) >= 2 and self.cpu[-1][1] > self.cpu[0][1]:
            (first_cpu, first_done), (last_cpu, last_done) = self.cpu[0], self.cpu[-1]
            cpu_us = round(1e6 * (last_cpu - first_cpu) / (last_done - first_done), 1)
        return {
            "records": self.done,
            "events_per_s": _rounded(steady_rate(self.samples, self.total)),
            "cpu_us_per_record": cpu_us,
        }


async def faust_floor_rate(
    worker: ServiceProcess, total: int, timeout_s: float = 300.0
) -> dict[str, Any]:
    """Runs :mod:`bench.faust_floor` with ``worker``'s environment (its own app id, so it
    reads the backlog from the start in a group of its own, and its own data directory)
    until it has relayed ``total`` records; its steady rate and CPU per record."""
    run_dir = worker.run_dir.parent / "faust-floor"
    run_dir.mkdir(parents=True, exist_ok=True)
    progress = run_dir / "progress"
    (port,) = free_ports(1)
    env = {
        **worker.env,
        "RISKSTREAM_FEATURES_APP_ID": "riskstream-faust-floor",
        "RISKSTREAM_FEATURES_DATA_DIR": str(run_dir / "state"),
        "RISKSTREAM_FEATURES_PORT": str(port),
    }
    with (run_dir / "log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.faust_floor",
            str(progress),
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    began = time.perf_counter()
    progress_of = Progress(total, process.pid)
    try:
        while progress_of.done < total and time.perf_counter() - began < timeout_s:
            if process.returncode is not None:
                break
            try:
                progress_of.add(int(progress.read_text() or 0))
            except (OSError, ValueError):
                progress_of.add(0)
            await asyncio.sleep(0.25)
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()
    return {
        **progress_of.summary(),
        "seconds_from_start": round(time.perf_counter() - began, 2),
    }


async def _events_done(http: httpx.AsyncClient, url: str) -> int:
    try:
        response = await http.get(url)
    except httpx.HTTPError:
        return 0
    return int(counter_total(response.text, EVENTS_COUNTER))


async def worker_rate(
    worker: ServiceProcess, total: int, profile_dir: Path, timeout_s: float = 300.0
) -> dict[str, Any]:
    """Starts ``worker`` on the loaded topics and follows its event counter to ``total``,
    profiling it once a tenth of the records is done (past start-up and recovery)."""
    began = time.perf_counter()
    await asyncio.to_thread(worker.start)
    pid = worker.pid
    assert pid is not None
    profile_s = 4.0
    output = profile_dir / "features-worker.txt"
    recording: Recording | None = None
    progress = Progress(total, pid)
    url = f"{worker.base_url}/metrics"
    async with httpx.AsyncClient(timeout=5.0) as http:
        while progress.done < total and time.perf_counter() - began < timeout_s:
            progress.add(await _events_done(http, url))
            if recording is None and progress.done >= total // 10:
                recording = start_recording(pid, profile_s, output)
            await asyncio.sleep(0.25)
    return {
        **progress.summary(),
        "seconds_from_start": round(time.perf_counter() - began, 2),
        "profile": read_profile(recording) if recording else {"error": ["never reached 10%"]},
    }


async def state_memory(
    redis_url: str, key_prefix: str, state_dir: Path, worker_pid: int, idle_worker_pid: int
) -> dict[str, Any]:
    """Bytes of feature state: Redis (``MEMORY USAGE`` with key overhead, and the values
    alone), RocksDB files on disk, worker RSS over an idle worker's; each also per 10,000
    customers."""
    redis = Redis.from_url(redis_url)
    pattern = f"{RedisKeys(key_prefix).customer_pattern()}"
    try:
        keys = [key async for key in redis.scan_iter(match=pattern, count=1000)]
        feature_keys = [key for key in keys if key.endswith(b":features")]
        async with redis.pipeline(transaction=False) as pipe:
            for key in feature_keys:
                pipe.memory_usage(key, samples=0)
                pipe.strlen(key)
            answers = await pipe.execute()
    finally:
        await redis.aclose()
    customers = len(feature_keys)
    redis_bytes = sum(int(answer or 0) for answer in answers[0::2])
    value_bytes = sum(int(answer or 0) for answer in answers[1::2])
    rocksdb_bytes = await asyncio.to_thread(directory_bytes, state_dir)
    worker_rss = resident_bytes(worker_pid)
    idle_rss = resident_bytes(idle_worker_pid)
    return {
        "customers": customers,
        "redis_bytes": redis_bytes,
        "redis_value_bytes": value_bytes,
        "rocksdb_dir_bytes": rocksdb_bytes,
        "worker_rss_bytes": worker_rss,
        "idle_worker_rss_bytes": idle_rss,
        "per_10k_customers": {
            "redis_bytes": _rounded(per_10k(redis_bytes, customers)),
            "redis_value_bytes": _rounded(per_10k(value_bytes, customers)),
            "rocksdb_dir_bytes": _rounded(per_10k(rocksdb_bytes, customers)),
            "worker_rss_over_idle_bytes": _rounded(per_10k(worker_rss - idle_rss, customers)),
        },
    }


def resident_bytes(pid: int, proc: Path = Path("/proc")) -> int:
    """Resident set size of a process (``VmRSS`` in ``/proc/<pid>/status``), in bytes."""
    for line in (proc / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ValueError(f"no VmRSS for pid {pid}")


def directory_bytes(root: Path) -> int:
    """Total size of the files under ``root``."""
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


async def wait_for_state(redis_url: str, key_prefix: str, customers: int, timeout_s: float) -> int:
    """Waits until every customer's state is in Redis (the worker writes behind the
    stream); returns how many are."""
    redis = Redis.from_url(redis_url)
    # Only the state keys: each customer also has a vector key beside its state.
    pattern = RedisKeys(key_prefix).feature_state_pattern()
    deadline = time.perf_counter() + timeout_s
    found = 0
    try:
        while time.perf_counter() < deadline:
            found = len([key async for key in redis.scan_iter(match=pattern, count=1000)])
            if found >= customers:
                break
            await asyncio.sleep(0.5)
    finally:
        await redis.aclose()
    return found


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def measure(
    settings: ServiceSettings,
    worker: ServiceProcess,
    idle_worker_pid: int,
    profile_dir: Path,
    customers: int = 1500,
    seed: int = 4242,
) -> dict[str, Any]:
    """Loads the topics, measures the bare consumer then the worker, then state memory.
    ``settings`` names the topic and key prefixes ``worker`` runs with."""
    events = await asyncio.to_thread(simulated_events, customers, seed)
    produce_s = await produce(settings, events)
    bare = await bare_consumer_rate(settings, len(events))
    decoding = await bare_consumer_rate(settings, len(events), decode=True)
    floor = await faust_floor_rate(worker, len(events))
    service = await worker_rate(worker, len(events), profile_dir)
    customers_with_state = len({event.customer_id for event in events})
    redis_url = settings.redis_url.get_secret_value()
    await wait_for_state(redis_url, settings.redis_key_prefix, customers_with_state, 30.0)
    assert worker.pid is not None
    memory = await state_memory(
        redis_url,
        settings.redis_key_prefix,
        worker.run_dir / "features",
        worker.pid,
        idle_worker_pid,
    )
    # As many new customers again, so the worker's memory is known at two sizes.
    more = await asyncio.to_thread(simulated_events, customers, seed + 1)
    await produce(settings, more)
    await wait_for_events(worker, len(events) + len(more), 120.0)
    customers_later = customers_with_state + len({event.customer_id for event in more})
    await wait_for_state(redis_url, settings.redis_key_prefix, customers_later, 30.0)
    memory_later = await state_memory(
        redis_url,
        settings.redis_key_prefix,
        worker.run_dir / "features",
        worker.pid,
        idle_worker_pid,
    )
    return {
        "events": len(events),
        "customers": customers_with_state,
        "produce_seconds": round(produce_s, 2),
        "bare_consumer": bare,
        "bare_consumer_decoding_json": decoding,
        "faust_floor": floor,
        "feature_service": service,
        "throughput_ratio": ratio(service["events_per_s"], bare["events_per_s"]),
        "throughput_ratio_to_decoding_consumer": ratio(
            service["events_per_s"], decoding["events_per_s"]
        ),
        "throughput_ratio_to_faust_floor": ratio(service["events_per_s"], floor["events_per_s"]),
        "memory": memory,
        "memory_at_two_sizes": two_sizes(memory, memory_later),
        "memory_larger": memory_later,
    }


def two_sizes(smaller: Mapping[str, Any], larger: Mapping[str, Any]) -> dict[str, Any]:
    """The worker's RSS split into a fixed part and a marginal cost per 10,000 customers,
    from :func:`state_memory` at two customer counts (a straight line through both)."""
    added = larger["customers"] - smaller["customers"]
    grown = larger["worker_rss_bytes"] - smaller["worker_rss_bytes"]
    marginal = grown / added if added > 0 else None
    return {
        "customers": [smaller["customers"], larger["customers"]],
        "worker_rss_bytes": [smaller["worker_rss_bytes"], larger["worker_rss_bytes"]],
        "rocksdb_dir_bytes": [smaller["rocksdb_dir_bytes"], larger["rocksdb_dir_bytes"]],
        "marginal_rss_per_10k_customers_bytes": _rounded(
            None if marginal is None else marginal * 10_000
        ),
        "fixed_rss_bytes": _rounded(
            None
            if marginal is None
            else smaller["worker_rss_bytes"] - marginal * smaller["customers"]
        ),
    }


async def wait_for_events(worker: ServiceProcess, total: int, timeout_s: float) -> int:
    """Waits until the worker's event counter reaches ``total``; returns the count."""
    deadline = time.perf_counter() + timeout_s
    done = 0
    async with httpx.AsyncClient(timeout=5.0) as http:
        while done < total and time.perf_counter() < deadline:
            done = await _events_done(http, f"{worker.base_url}/metrics")
            await asyncio.sleep(0.25)
    return done
