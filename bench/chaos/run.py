"""One chaos run: the pipeline (ingest, feature workers, scorers, warning services) on a
Kafka cluster and a Redis, a continuous stream of simulated events posted to ingest, a
checkout prober, and ``rounds`` rounds of faults; then the pipeline is healed, left to go
quiet, and verified (:mod:`bench.chaos.verifier`).

Each round picks one fault at random (seeded; each kind equally likely) or from a fixed
schedule: kill -9, stop or add a feature worker, scorer or warning service; kill -9 a
broker, bring it back and let it catch up (``broker``); restart every broker in turn,
each back in sync before the next (``roll``); or flush Redis. It then lets the stream run for
``round_s`` seconds and starts a service of any kind left with none. Before the stream
begins, a few customers are frozen through the warning service's API; the prober scores
them, and every customer a watcher sees frozen or suspended in Redis, on credit
throughout.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.asyncio import Redis

from bench.chaos.prober import CheckoutProber
from bench.chaos.verifier import Observed, Verdict, verify
from deploy.harness import BackingServices, ServiceProcess, service_environment
from deploy.platform.kafka import under_replicated_partitions
from schemas.actions import RiskAction
from schemas.events import InboundEvent
from schemas.scores import ScoreRecord
from services.common.kafka import read_to_end, uncommitted_records
from services.common.redis_client import as_bytes
from services.common.redis_keys import RedisKeys, Writer, epoch_covers
from services.common.settings import DEVELOPMENT_ADMIN_KEY, DEVELOPMENT_CLIENT_KEY, ServiceSettings
from services.common.topics import EVENT_TOPICS, Topic
from services.features.settings import FeaturesSettings
from services.scorer.settings import ScorerSettings
from services.warning.core import WarningState, load_default_rules
from services.warning.settings import WarningSettings
from simulator import simulate

log = logging.getLogger("chaos")

KINDS = ("features", "scorer", "warning")
"""The services faults are dealt to; one ingest gateway runs beside them."""
RESTRICTED_STATUSES = frozenset({"frozen", "suspended"})
BROKER_DOWN_S = 3.0
"""How long a killed broker stays down before it is started again."""
EVENTS_PER_CUSTOMER = 8
"""About how many events a simulated customer has over 30 days."""


class ChaosSettings(BaseSettings):
    """``RISKSTREAM_CHAOS_<FIELD>``; the defaults make a run of about ten minutes on two
    cores (three brokers, six services, the stream, the prober and the verifier)."""

    model_config = SettingsConfigDict(env_prefix="RISKSTREAM_CHAOS_", extra="ignore")

    rounds: int = Field(default=14, ge=0)
    round_s: float = Field(default=25.0, gt=0)
    """How long the stream runs after each fault before the next."""
    event_rate: float = Field(default=25.0, gt=0)
    """Events per second of the simulated stream."""
    instances: int = Field(default=2, ge=1)
    """Instances of each service at the start."""
    max_instances: int = Field(default=3, ge=1)
    frozen_customers: int = Field(default=20, ge=1)
    seed: int = 13
    quiet_timeout_s: float = Field(default=300.0, gt=0)
    """Longest wait, after the last round, for every consumer to catch up."""
    faults: str = ""
    """Comma-separated faults to choose from (``kill features``, ``add scorer``,
    ``broker``, ``roll``, ``flush redis``...); empty: all of them."""
    schedule: str = ""
    """Comma-separated faults dealt in this order, one a round, instead of at random."""


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    target: str

    def __str__(self) -> str:
        return f"{self.kind} {self.target}".strip()


class Fleet:
    """The service processes running, by kind. Starting blocks (until the service is
    ready), so callers run it in a thread."""

    def __init__(self, env: dict[str, str], run_dir: Path) -> None:
        self._env = env
        self._run_dir = run_dir
        self._running: dict[str, list[ServiceProcess]] = {k: [] for k in ("ingest", *KINDS)}

    def running(self, kind: str) -> list[ServiceProcess]:
        return list(self._running[kind])

    def urls(self, kind: str) -> list[str]:
        return [process.base_url for process in self._running[kind]]

    def start(self, kind: str) -> ServiceProcess:
        process = ServiceProcess(kind, self._env, self._run_dir, timeout_s=180.0)
        process.start()
        self._running[kind].append(process)
        return process

    def kill(self, process: ServiceProcess) -> None:
        self._running[process.spec.name].remove(process)
        process.kill()

    def stop(self, process: ServiceProcess) -> None:
        self._running[process.spec.name].remove(process)
        process.stop()

    def close(self) -> None:
        """Stops every process, all at once (each may take seconds to shut down)."""
        processes = [p for kind in self._running.values() for p in kind]
        threads = [threading.Thread(target=process.stop) for process in processes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for kind in self._running.values():
            kind.clear()


class EventStream:
    """Posts events to ingest at a steady rate, each as its own request (concurrently, so a
    slow answer while a broker fails over holds no other back), as a client would: an event
    not answered 202 is counted and sent again a second later. Remembers every event
    ingest accepted."""

    def __init__(
        self, ingest: Callable[[], str], events: Sequence[InboundEvent], rate: float
    ) -> None:
        self._ingest = ingest
        self._events = events
        self._rate = rate
        self.accepted: list[InboundEvent] = []
        self.refused: Counter[str] = Counter()
        """Answers other than 202, by status code (or ``error <exception>`` for no answer)."""

    async def run(self, stop: asyncio.Event) -> None:
        headers = {"Authorization": f"Bearer {DEVELOPMENT_CLIENT_KEY}"}
        in_flight = asyncio.Semaphore(64)
        loop = asyncio.get_running_loop()
        started = loop.time()
        # Idle connections are dropped before uvicorn's 5 s keep-alive ends, so a request
        # never goes out on a connection the server is closing (an error that says
        # nothing about the platform).
        limits = httpx.Limits(keepalive_expiry=2.0)
        async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as http:
            sends: list[asyncio.Task[None]] = []
            for index, event in enumerate(self._events):
                if stop.is_set():
                    break
                await asyncio.sleep(max(0.0, started + index / self._rate - loop.time()))
                await in_flight.acquire()
                sends.append(asyncio.create_task(self._send(http, event, in_flight)))
            await asyncio.gather(*sends)

    async def _send(
        self, http: httpx.AsyncClient, event: InboundEvent, in_flight: asyncio.Semaphore
    ) -> None:
        body = event.model_dump(mode="json")
        try:
            while True:
                try:
                    response = await http.post(f"{self._ingest()}/v1/events", json=body)
                except httpx.HTTPError as error:
                    self.refused[f"error {type(error).__name__}"] += 1
                else:
                    if response.status_code == 202:
                        self.accepted.append(event)
                        return
                    self.refused[str(response.status_code)] += 1
                await asyncio.sleep(1.0)
        finally:
            in_flight.release()


class RestrictionWatcher:
    """Reads every customer's risk state from Redis every ``interval_s`` and remembers
    when each was seen frozen or suspended."""

    def __init__(self, redis: Redis, keys: RedisKeys, customers: Sequence[str]) -> None:
        self._redis = redis
        self._keys = keys
        self._customers = list(customers)
        self.seen: dict[str, list[datetime]] = {}
        self._restricted: tuple[str, ...] = ()

    def restricted(self) -> tuple[str, ...]:
        """Every customer seen restricted so far (read by the prober's thread: the tuple
        is replaced whole, never changed in place)."""
        return self._restricted

    def saw(self, customer_id: str, at: datetime) -> None:
        if customer_id not in self.seen:
            self._restricted = (*self._restricted, customer_id)
        self.seen.setdefault(customer_id, []).append(at)

    async def run(self, stop: asyncio.Event, interval_s: float = 2.0) -> None:
        keys = [self._keys.risk_state(c) for c in self._customers]
        while not stop.is_set():
            at = datetime.now(UTC)
            try:
                values = await self._redis.mget(keys)
            except Exception:  # Redis down or flushed under us: nothing seen this time
                values = []
            for customer, value in zip(self._customers, values, strict=False):
                if value and orjson.loads(value).get("status") in RESTRICTED_STATUSES:
                    self.saw(customer, at)
            await asyncio.sleep(interval_s)


class ChaosRun:
    def __init__(
        self,
        backing: BackingServices,
        settings: ServiceSettings,
        chaos: ChaosSettings,
        bundle: Path,
        run_dir: Path,
    ) -> None:
        self._backing = backing
        self._settings = settings
        self._chaos = chaos
        self._random = random.Random(chaos.seed)  # noqa: S311 (fault schedule, not a secret)
        self._keys = RedisKeys(settings.redis_key_prefix)
        self._fleet = Fleet(self._environment(bundle, run_dir), run_dir)
        self.faults: list[Fault] = []

    def _environment(self, bundle: Path, run_dir: Path) -> dict[str, str]:
        return {
            **service_environment(self._settings),
            "RISKSTREAM_DEFAULT_BUNDLE": str(bundle),
            "RISKSTREAM_MODEL_REGISTRY_DIR": str(run_dir / "registry"),
            "RISKSTREAM_CONTROL_WAIT_S": "2",
            "RISKSTREAM_LOG_LEVEL": "WARNING",
            "RISKSTREAM_PRODUCE_TIMEOUT_S": "30",
        }

    def events(self) -> list[InboundEvent]:
        """A simulated stream long enough to last every round at the event rate."""
        chaos = self._chaos
        seconds = (chaos.rounds + 2) * chaos.round_s
        customers = max(50, int(seconds * chaos.event_rate / EVENTS_PER_CUSTOMER))
        start = datetime.now(UTC) - timedelta(days=31)
        return simulate(customers=customers, days=30, seed=chaos.seed, start=start).events

    async def run(self) -> Verdict:
        events = self.events()
        customers = sorted({event.customer_id for event in events})
        redis = Redis.from_url(self._settings.redis_url.get_secret_value())
        stop = asyncio.Event()
        try:
            await asyncio.gather(
                asyncio.to_thread(self._fleet.start, "ingest"),
                *(
                    asyncio.to_thread(self._fleet.start, kind)
                    for kind in KINDS
                    for _ in range(self._chaos.instances)
                ),
            )
            log.warning("chaos: %d services up", sum(len(self._fleet.running(k)) for k in KINDS))
            watcher = RestrictionWatcher(redis, self._keys, customers)
            frozen = await self._freeze(customers[: self._chaos.frozen_customers], watcher)
            initial_states = await self._initial_states(frozen)
            prober = CheckoutProber(
                lambda: self._fleet.urls("scorer"), watcher.restricted, DEVELOPMENT_CLIENT_KEY
            ).start()
            stream = EventStream(
                lambda: self._fleet.urls("ingest")[0], events, self._chaos.event_rate
            )
            background = [
                asyncio.create_task(stream.run(stop)),
                asyncio.create_task(watcher.run(stop)),
            ]
            try:
                for number in range(1, self._chaos.rounds + 1):
                    await self._round(number)
                await asyncio.sleep(self._chaos.round_s)
            finally:
                stop.set()
                await asyncio.gather(*background)
            await self._heal()
            await self._wait_until_quiet()
            log.warning("chaos: every consumer caught up, verifying")
            probes = prober.stop()
            triggers, scores, actions, model_version = await asyncio.gather(
                self._update_triggers(), self._scores(), self._actions(), self._model_version()
            )
            observed = Observed(
                events=stream.accepted,
                refused=stream.refused,
                update_triggers=triggers,
                scores=scores,
                actions=actions,
                initial_states=initial_states,
                feature_states=await self._stored(redis, self._keys.feature_state, customers),
                warning_states=await self._stored(redis, self._keys.warning_state, customers),
                probes=probes,
                restricted_seen=watcher.seen,
                model_version=model_version,
                as_of=datetime.now(UTC),
            )
            return verify(
                observed,
                load_default_rules(),
                self._chaos.rounds,
                Counter(fault.kind for fault in self.faults),
            )
        finally:
            stop.set()
            await asyncio.to_thread(self._fleet.close)
            await redis.aclose()

    async def _freeze(self, customers: list[str], watcher: RestrictionWatcher) -> list[str]:
        """Freezes ``customers`` through the warning API before the stream begins (each
        override is published, logged on ``warning.state`` and stored)."""
        (warning,) = self._fleet.urls("warning")[:1]
        headers = {"Authorization": f"Bearer {DEVELOPMENT_ADMIN_KEY}"}
        body = {"action": "freeze_credit", "reason": "chaos: frozen before the stream"}
        async with httpx.AsyncClient(base_url=warning, headers=headers, timeout=30) as http:
            for customer in customers:
                response = await http.post(f"/v1/customers/{customer}/overrides", json=body)
                response.raise_for_status()
                watcher.saw(customer, datetime.now(UTC))
        return customers

    async def _initial_states(self, customers: list[str]) -> dict[str, WarningState]:
        """The states the overrides left, as ``warning.state`` holds them."""
        topic = self._settings.topics(Topic.WARNING_STATE)
        states: dict[str, WarningState] = {}
        for record in await read_to_end(self._settings, topic):
            if record.key is not None and record.value is not None:
                states[record.key.decode()] = WarningState.from_json(record.value)
        return {customer: states[customer] for customer in customers}

    async def _round(self, number: int) -> None:
        scheduled = [f.strip() for f in self._chaos.schedule.split(",") if f.strip()]
        fault = self._scheduled(scheduled[number - 1]) if scheduled else self._pick()
        log.warning("chaos: round %d/%d: %s", number, self._chaos.rounds, fault)
        await self._inflict(fault)
        self.faults.append(fault)
        await asyncio.sleep(self._chaos.round_s)
        for kind in KINDS:
            if not self._fleet.running(kind):
                await asyncio.to_thread(self._fleet.start, kind)

    @staticmethod
    def _scheduled(text: str) -> Fault:
        kind, _, target = text.partition(" ")
        return Fault(kind, target)

    def _pick(self) -> Fault:
        """A fault kind at random (each equally likely), then its target: a kind of
        service that has an instance to kill or stop, or room for one more."""
        choices: list[Fault] = [Fault("broker", ""), Fault("roll", ""), Fault("flush", "redis")]
        for kind in KINDS:
            running = len(self._fleet.running(kind))
            if running:
                choices += [Fault("kill", kind), Fault("stop", kind)]
            if running < self._chaos.max_instances:
                choices.append(Fault("add", kind))
        allowed = {f.strip() for f in self._chaos.faults.split(",") if f.strip()}
        if allowed:
            choices = [fault for fault in choices if str(fault) in allowed]
        kind = self._random.choice(sorted({fault.kind for fault in choices}))
        return self._random.choice([fault for fault in choices if fault.kind == kind])

    async def _inflict(self, fault: Fault) -> None:
        if fault.kind in ("kill", "stop"):
            process = self._random.choice(self._fleet.running(fault.target))
            end = self._fleet.kill if fault.kind == "kill" else self._fleet.stop
            await asyncio.to_thread(end, process)
        elif fault.kind == "add":
            await asyncio.to_thread(self._fleet.start, fault.target)
        elif fault.kind == "broker":
            node = self._random.choice(self._backing.nodes)
            await asyncio.to_thread(self._backing.kill_broker, node.node_id)
            await asyncio.sleep(BROKER_DOWN_S)
            await asyncio.to_thread(self._backing.start_broker, node.node_id)
            await self._replicas_in_sync()
        elif fault.kind == "roll":
            for node in self._backing.nodes:
                await asyncio.to_thread(self._backing.stop_broker, node.node_id)
                await asyncio.to_thread(self._backing.start_broker, node.node_id)
                await self._replicas_in_sync()
        elif fault.kind == "flush":
            redis = Redis.from_url(self._settings.redis_url.get_secret_value())
            try:
                await redis.flushall()
            finally:
                await redis.aclose()

    async def _replicas_in_sync(self) -> None:
        """Waits until the restarted broker has caught up (so the next bounce never takes
        a second replica of a partition away), at most a minute."""
        deadline = time.monotonic() + 60.0
        while await under_replicated_partitions(self._settings):
            if time.monotonic() > deadline:
                log.warning("chaos: replicas still out of sync after a minute")
                return
            await asyncio.sleep(0.5)

    async def _heal(self) -> None:
        await asyncio.to_thread(self._backing.start)
        for kind in KINDS:
            if not self._fleet.running(kind):
                await asyncio.to_thread(self._fleet.start, kind)

    async def _wait_until_quiet(self) -> None:
        """Until every consumer has committed everything and both epoch keys are whole."""
        settings = self._settings
        topics = settings.topics
        consumers = [
            (
                FeaturesSettings(topic_prefix=settings.topic_prefix).app_id,
                [topics(t) for t in EVENT_TOPICS.values()],
            ),
            (
                ScorerSettings(topic_prefix=settings.topic_prefix).stream_group_id,
                [topics(Topic.FEATURE_UPDATES)],
            ),
            (
                WarningSettings(topic_prefix=settings.topic_prefix).group_id,
                [topics(Topic.SCORES)],
            ),
        ]
        deadline = time.monotonic() + self._chaos.quiet_timeout_s
        while True:
            counts = await asyncio.gather(
                *(uncommitted_records(settings, group, names) for group, names in consumers)
            )
            behind = {group: count for (group, _), count in zip(consumers, counts, strict=True)}
            complete = await self._store_complete()
            if not any(behind.values()) and complete:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"not quiet: behind {behind}, store complete {complete}")
            await asyncio.sleep(2.0)

    async def _store_complete(self) -> bool:
        redis = Redis.from_url(self._settings.redis_url.get_secret_value())
        try:
            values = await redis.mget([self._keys.epoch(w) for w in Writer])
        finally:
            await redis.aclose()
        return all(epoch_covers(as_bytes(v), self._settings.event_partitions) for v in values)

    async def _update_triggers(self) -> list[str]:
        records = await read_to_end(self._settings, self._settings.topics(Topic.FEATURE_UPDATES))
        return [str(orjson.loads(r.value or b"{}")["triggered_by"]) for r in records]

    async def _scores(self) -> list[ScoreRecord]:
        records = await read_to_end(self._settings, self._settings.topics(Topic.SCORES))
        return [ScoreRecord.model_validate_json(r.value or b"") for r in records]

    async def _actions(self) -> list[RiskAction]:
        records = await read_to_end(self._settings, self._settings.topics(Topic.ACTIONS))
        return [RiskAction.model_validate_json(r.value or b"") for r in records]

    async def _model_version(self) -> str:
        (scorer, *_) = self._fleet.urls("scorer")
        headers = {"Authorization": f"Bearer {DEVELOPMENT_CLIENT_KEY}"}
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(
                f"{scorer}/v1/score", json={"customer_id": "chaos-probe"}, headers=headers
            )
        return str(response.json()["model_version"])

    @staticmethod
    async def _stored(
        redis: Redis, key: Callable[[str], str], customers: Sequence[str]
    ) -> dict[str, bytes | None]:
        values = await redis.mget([key(c) for c in customers])
        return {c: as_bytes(v) for c, v in zip(customers, values, strict=True)}
