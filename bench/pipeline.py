"""End-to-end event-to-action latency at fixed rates, beside the broker's own
produce-to-consume latency at the same rates.

Definitions (both clocks are this process's monotonic clock):

- **event→action**: from the moment an event is handed to the Kafka producer (the
  producer the gateway uses: ``acks=all``) to the moment the first action
  record whose ``triggered_by`` is that event's id is delivered to a consumer reading
  ``risk.actions``. The path: event topic → feature worker → ``features.updates`` → stream
  scorer → ``risk.scores`` → warning service → ``risk.actions``.
- **event→score**: the same start, to the score record on ``risk.scores``.
- **event→update**: the same start, to the feature update on ``features.updates`` (the
  feature worker's share).
- **broker floor**: a probe record produced with the same producer settings to a topic of
  its own and delivered to a consumer of it, at the same rate, just before: what one
  Kafka hop costs here. The pipeline takes three hops and three consumers' batching.

The load at each rate replays simulated customers' events (each given an id unique to
the step); a quarter of the events are chargebacks of customers never seen before, each of
which the default rules answer with an action, so every rate yields action samples.
A rate is **sustained** when every one of those actions arrived and the pipeline kept up:
the last quarter of the events waited for their scores no longer than twice as long as the
first quarter, plus a quarter of a second (a pipeline that falls behind queues, and each
event waits longer than the one before).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from bench.stats import kept_up, latency_summary
from loadtests.kafka_driver import RatePacer
from schemas.events import InboundEvent
from services.common.kafka import ResilientProducer, client_kwargs, make_producer
from services.common.settings import ServiceSettings
from services.common.topics import Topic

PROBE_TOPIC = "bench.probe"
TRIGGER_SHARE = 4
"""Every fourth event is a trigger (a first-time customer's chargeback)."""


def trigger_event(step: str, n: int, now: datetime) -> dict[str, Any]:
    """A chargeback of a customer never seen before: the ``chargeback`` rule answers it
    with ``manual_review`` (and the grade rules may add more), so it always yields an
    action."""
    customer_id = f"e2e-{step}-{n}"
    return {
        "event_id": f"{customer_id}-cb",
        "event_type": "payment",
        "customer_id": customer_id,
        "occurred_at": now.isoformat(),
        "schema_version": 1,
        "order_id": f"{customer_id}-o1",
        "payment_id": f"{customer_id}-p1",
        "amount": "199.00",
        "currency": "CNY",
        "kind": "chargeback",
        "status": "succeeded",
    }


def replayed(event: InboundEvent, step: str) -> dict[str, Any]:
    """A simulated event with an id unique to ``step``, so its score and actions are told
    apart from earlier replays of the same history."""
    body = event.model_dump(mode="json", exclude_none=True)
    body["event_id"] = f"{event.event_id}.{step}"[:64]
    return body


class _Follower:
    """Reads a topic from its end as of start (no group) and notes when each
    ``triggered_by`` first appears."""

    def __init__(self, settings: ServiceSettings, topic: str, key: str | None) -> None:
        self._consumer = AIOKafkaConsumer(
            topic, **client_kwargs(settings), group_id=None, enable_auto_commit=False
        )
        self._key = key
        self.seen: dict[bytes | str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        while not self._consumer.assignment():  # noqa: ASYNC110 (no event for a group-less assignment)
            await asyncio.sleep(0.05)
        await self._consumer.seek_to_end()
        for partition in self._consumer.assignment():
            await self._consumer.position(partition)
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            for records in (await self._consumer.getmany(timeout_ms=100)).values():
                at = time.perf_counter()
                for record in records:
                    if self._key is None:
                        mark: bytes | str = record.value or b""
                    else:
                        mark = str(orjson.loads(record.value or b"{}").get(self._key))
                    self.seen.setdefault(mark, at)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()


async def ensure_probe_topic(settings: ServiceSettings) -> str:
    """The probe topic (as many partitions as the event topics), created when missing."""
    name = f"{settings.topic_prefix}{PROBE_TOPIC}"
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        if name not in set(await admin.list_topics()):
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(name, settings.event_partitions, settings.topic_replication_factor)]
                )
    finally:
        await admin.close()
    return name


async def broker_floor(settings: ServiceSettings, rate: float, seconds: float) -> dict[str, Any]:
    """Produce-to-consume latency of probe records at ``rate`` for ``seconds``."""
    topic = await ensure_probe_topic(settings)
    follower = _Follower(settings, topic, key=None)
    await follower.start()
    producer = make_producer(settings)
    await producer.start()
    sent: dict[bytes, float] = {}
    pacer = RatePacer(rate, time.perf_counter)
    try:
        for n in range(int(rate * seconds)):
            await asyncio.sleep(pacer.delay_before(n))
            probe = f"probe-{rate}-{n}".encode()
            sent[probe] = time.perf_counter()
            await producer.send(topic, value=probe, key=str(n).encode())
        await producer.flush()
        await _wait_for(lambda: all(p in follower.seen for p in sent), 10.0)
    finally:
        await producer.stop()
        await follower.stop()
    latencies = [follower.seen[p] - t for p, t in sent.items() if p in follower.seen]
    return {**latency_summary(latencies), "missing": len(sent) - len(latencies)}


async def relay_floor(settings: ServiceSettings, limit: int = 20_000) -> dict[str, Any]:
    """The least a stream consumer of ``features.updates`` does: fetch each record, parse
    its JSON and produce a record for it (one batch send per fetched batch, as the stream
    scorer does), with no model and no store. CPU time of this process per record, from
    the start of the topic (up to ``limit`` records): the floor beside the stream scorer's
    and the warning service's CPU per event."""
    source = settings.topics(Topic.FEATURE_UPDATES)
    target = await ensure_probe_topic(settings)
    consumer = AIOKafkaConsumer(
        source,
        **client_kwargs(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = ResilientProducer(settings, timeout_s=10.0)
    await consumer.start()
    await producer.start()
    await producer.wait_connected(30.0)
    relayed = 0
    began_cpu, began = time.process_time(), time.perf_counter()
    try:
        while relayed < limit and time.perf_counter() - began < 60.0:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            records = [record for fetched in batches.values() for record in fetched]
            if not records:
                break
            outputs = []
            for record in records:
                update = orjson.loads(record.value or b"null")
                outputs.append((record.key, orjson.dumps({"seen": update.get("triggered_by")})))
            await producer.send_all(target, outputs)
            relayed += len(records)
    finally:
        cpu_s = time.process_time() - began_cpu
        await consumer.stop()
        await producer.stop()
    return {
        "records": relayed,
        "cpu_us_per_record": round(1e6 * cpu_s / relayed, 1) if relayed else None,
    }


async def _wait_for(condition: Any, timeout_s: float) -> None:
    deadline = time.perf_counter() + timeout_s
    # Polled: the followers record arrivals in dicts, and polling costs nothing here.
    while not condition() and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)


async def pipeline_latency(
    settings: ServiceSettings,
    background: Sequence[InboundEvent],
    rate: float,
    seconds: float,
    step: str,
    drain_s: float = 60.0,
) -> dict[str, Any]:
    """Sends events at ``rate`` for ``seconds`` straight to the event topics and follows
    ``risk.scores`` and ``risk.actions`` for them."""
    actions = _Follower(settings, settings.topics(Topic.ACTIONS), key="triggered_by")
    scores = _Follower(settings, settings.topics(Topic.SCORES), key="triggered_by")
    updates = _Follower(settings, settings.topics(Topic.FEATURE_UPDATES), key="triggered_by")
    await actions.start()
    await scores.start()
    await updates.start()
    producer = make_producer(settings)
    await producer.start()
    sent: dict[str, float] = {}
    triggers: list[str] = []
    pacer = RatePacer(rate, time.perf_counter)
    started = time.perf_counter()
    try:
        for n in range(int(rate * seconds)):
            await asyncio.sleep(pacer.delay_before(n))
            if n % TRIGGER_SHARE == 0:
                body = trigger_event(step, n, datetime.now(UTC))
                triggers.append(body["event_id"])
            else:
                body = replayed(background[n % len(background)], step)
            topic = settings.topics.event_topic(body["event_type"])
            sent[body["event_id"]] = time.perf_counter()
            await producer.send(topic, value=orjson.dumps(body), key=body["customer_id"].encode())
        offered_s = time.perf_counter() - started
        await producer.flush()
        # Wait for the whole step to come out, so the next step starts on an empty pipeline.
        await _wait_for(
            lambda: (
                all(t in actions.seen for t in triggers) and all(e in scores.seen for e in sent)
            ),
            drain_s,
        )
    finally:
        await producer.stop()
        await actions.stop()
        await scores.stop()
        await updates.stop()
    action_latencies = [at - sent[e] for e, at in actions.seen.items() if e in sent]
    # In send order (dicts keep insertion order), for the kept-up test.
    score_latencies = [scores.seen[e] - at for e, at in sent.items() if e in scores.seen]
    update_latencies = [updates.seen[e] - at for e, at in sent.items() if e in updates.seen]
    action = latency_summary(action_latencies)
    missing = sum(1 for t in triggers if t not in actions.seen)
    return {
        "rate": rate,
        "achieved_send_rate": round(len(sent) / offered_s, 1),
        "events": len(sent),
        "event_to_action": {**action, "missing_trigger_actions": missing},
        "event_to_score": {
            **latency_summary(score_latencies),
            "missing": len(sent) - len(score_latencies),
        },
        "event_to_update": latency_summary(update_latencies),
        "sustained": missing == 0 and bool(kept_up(score_latencies)),
    }
