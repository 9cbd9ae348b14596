"""The faust-streaming worker: one agent over the inbound event topics and the matched
signals (keyed by customer) and the subject topic (keyed by identifier hash), all
co-partitioned; per-customer state and per-subject entries in two RocksDB tables with their
changelog topics, at-least-once.

Concurrency stays at 1 (higher values can commit past an unprocessed record); throughput
comes from partitions and from processing records in batches. Redis holds a copy of the
table: a guard task watches the worker's epoch key and, when Redis lost the worker's keys
(or on the first start), rewrites them from the table, paced, and marks them complete.
"""

from __future__ import annotations

import collections
import logging
import weakref
from collections.abc import Sequence
from typing import Any, cast

import faust
from faust.streams import _current_event as current_event_var
from faust.types.tables import TableT
from faust.web import Request, Response, View
from mode.types.signals import BaseSignalT
from prometheus_client import Counter, Gauge
from redis.asyncio import Redis

from schemas.features import feature_update_json
from services.common import metrics
from services.common.clock import Clock
from services.common.kafka import KeyPartitioner, send_batches, tls_context
from services.common.rebuilds import EpochGuard, EpochMarker, Pacer
from services.common.redis_keys import RedisKeys, Writer
from services.common.topics import EVENT_TOPICS, FEATURE_SOURCE_TOPICS, Topic
from services.features.core import CustomerState, SubjectEntry
from services.features.offsets import NoSkipConsumer
from services.features.processing import (
    Applied,
    BatchStates,
    BatchSubjects,
    FeatureProcessor,
    Linked,
    Rejected,
    SignalTopics,
    SourceRecord,
    record_age_seconds,
    stored_vectors,
)
from services.features.settings import STATE_TABLE, SUBJECT_TABLE, FeaturesSettings
from services.features.sinks import ProcessedBatch, Rewrite, StateFlusher

log = logging.getLogger(__name__)

EVENTS = Counter(
    "riskstream_features_events_total",
    "Records read from the worker's topics, by event type (shared_signal for a matched "
    "signal, contact or signal for a subject record) and outcome (applied, duplicate, "
    "too_old, rejected; filed for a subject record, which reaches no customer's state).",
    ["event_type", "outcome"],
)
LAST_PROCESSED = Gauge(
    "riskstream_features_last_processed_timestamp_seconds",
    "Wall-clock time of the last record the worker processed.",
)


def _credentials(settings: FeaturesSettings) -> faust.types.auth.CredentialsT | None:
    context = tls_context(settings)
    if settings.kafka_sasl_mechanism:
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            ssl_context=context,
            mechanism=settings.kafka_sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def faust_app(settings: FeaturesSettings, partitioner: KeyPartitioner) -> faust.App:
    """A faust app with the worker's options (brokers, RocksDB store, producer batching,
    session timeouts, this worker's consumer) and no topics, tables or agents yet:
    :func:`create_app` adds the worker's, the bench's faust floor a bare relay of its own."""
    brokers = ";".join(f"kafka://{b.strip()}" for b in settings.kafka_bootstrap_servers.split(","))
    app = faust.App(
        settings.app_id,
        broker=brokers,
        broker_credentials=_credentials(settings),
        store="rocksdb://",
        datadir=str(settings.features_data_dir),
        topic_partitions=settings.event_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        processing_guarantee="at_least_once",
        producer_acks=-1,
        # Batch produce requests: each record otherwise costs its own request and socket
        # write, and a state (a few kB) would fill faust's default 16 kB batch on its own.
        producer_linger_ms=settings.kafka_linger_ms,
        producer_max_batch_size=settings.kafka_batch_bytes,
        producer_partitioner=partitioner,
        consumer_auto_offset_reset="earliest",
        web_host=settings.features_host,
        web_port=settings.features_port,
        web_in_thread=False,
        # faust's own pages would serve table contents (customers' state) and topology to
        # anyone who reaches the port; the worker serves /live, /ready and /metrics only.
        web_router_enabled=False,
        web_tables_enabled=False,
        web_stats_enabled=False,
        web_graph_enabled=False,
        table_standby_replicas=0,
        broker_session_timeout=settings.features_session_timeout_s,
        broker_heartbeat_interval=settings.features_session_timeout_s / 4,
    )
    # This app's consumers only (the class attribute stays faust's): see offsets.py.
    app.transport.Consumer = NoSkipConsumer  # type: ignore[misc]
    return app


def raw_table(app: faust.App, name: str, settings: FeaturesSettings) -> TableT[bytes, bytes]:
    """A table of ``app`` with bytes keys and values (which faust stores as they are), one
    partition per event partition, in RocksDB with the worker's options; None for a
    missing key."""
    return app.Table(
        name,
        default=None,
        partitions=settings.event_partitions,
        key_type=bytes,
        value_type=bytes,
        options=settings.rocksdb_options(),
    )


def create_app(settings: FeaturesSettings, clock: Clock, redis: Redis) -> faust.App:
    """Builds the worker app; ``clock`` stamps processing time (settable in tests)."""
    partitioner = KeyPartitioner()
    app = faust_app(settings, partitioner)
    topics = settings.topics
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    source = app.topic(*(topics(t) for t in FEATURE_SOURCE_TOPICS), **raw)
    table = raw_table(app, STATE_TABLE, settings)
    subject_table = raw_table(app, SUBJECT_TABLE, settings)
    keys = RedisKeys(settings.redis_key_prefix)
    flusher = StateFlusher(redis, keys)
    processor = FeatureProcessor(
        settings.service_name,
        {event_type: topics(topic) for event_type, topic in EVENT_TOPICS.items()},
        clock,
        SignalTopics(topics(Topic.SIGNAL_SUBJECTS), topics(Topic.SIGNAL_MATCHES)),
    )
    updates_topic = topics(Topic.FEATURE_UPDATES)
    dlq_topic = topics(Topic.DLQ)

    def load_state(customer_id: str) -> CustomerState | None:
        stored = table.get(customer_id.encode())
        return CustomerState.from_bytes(stored) if stored is not None else None

    def load_subject(subject_key: str) -> SubjectEntry | None:
        stored = subject_table.get(subject_key.encode())
        return SubjectEntry.from_bytes(stored) if stored is not None else None

    @app.agent(source, concurrency=1)
    async def process_events(stream: faust.StreamT[bytes]) -> None:
        """Processes the records in batches (at most ``redis_flush_max_records``, or what
        came within ``redis_flush_interval_ms``): each customer's state is read once and
        written once per batch, outputs go out in one produce batch per partition, and the
        offsets are acknowledged once the flusher has the batch's states in Redis and its
        outputs acknowledged by Kafka."""
        # noack() and noack_take() exist on every stream faust hands an agent, but not on
        # StreamT.
        agent_stream = cast(faust.Stream[bytes], stream)
        manual = cast(faust.Stream[bytes], agent_stream.noack())
        event_age = metrics.EVENT_AGE.labels("features")
        batches = manual.noack_take(
            settings.redis_flush_max_records, settings.redis_flush_interval_ms / 1000
        )
        async for taken in batches:
            # noack_take yields the events themselves (its annotation says values).
            events = cast(Sequence[faust.types.EventT[bytes]], taken)
            now = clock.now()
            states = BatchStates(load_state)
            subjects = BatchSubjects(load_subject)
            last_event: dict[str, faust.types.EventT[bytes]] = {}
            last_result: dict[str, Applied] = {}
            last_subject_event: dict[str, faust.types.EventT[bytes]] = {}
            updates: list[tuple[bytes | None, bytes]] = []
            letters: list[tuple[bytes | None, bytes]] = []
            outputs: collections.defaultdict[str, list[tuple[bytes | None, bytes]]] = (
                collections.defaultdict(list)
            )
            outcomes: collections.Counter[tuple[str, str]] = collections.Counter()
            for event in events:
                make_current(event)
                record = _source_record(event.message)
                result = processor.process(record, states, subjects)
                age = record_age_seconds(record, now)
                if age is not None:
                    event_age.observe(age)
                if isinstance(result, Rejected):
                    letter = result.dead_letter
                    outcomes["unknown", "rejected"] += 1
                    metrics.DEAD_LETTERS.labels(letter.source_topic, letter.reason).inc()
                    letters.append((record.key, letter.model_dump_json().encode()))
                    continue
                if isinstance(result, Linked):
                    last_subject_event[(record.key or b"").decode()] = event
                    outcomes[result.record, "filed"] += 1
                else:
                    customer = result.state.customer_id
                    last_event[customer] = event
                    last_result[customer] = result
                    outcomes[result.event_type, result.outcome.value.lower()] += 1
                    updates.append((customer.encode(), feature_update_json(result.update)))
                for output in result.outputs:
                    outputs[output.topic].append((output.key, output.value))
            state_bytes = {customer: state.to_bytes() for customer, state in states.touched.items()}
            for customer in states.changed():
                make_current(last_event[customer])
                table[customer.encode()] = state_bytes[customer]
            for subject_key in subjects.changed():
                # The subject table is only this worker's: Redis holds no copy of it.
                make_current(last_subject_event[subject_key])
                subject_table[subject_key.encode()] = subjects.touched[subject_key].to_bytes()
            for (event_type, outcome), count in outcomes.items():
                EVENTS.labels(event_type, outcome).inc(count)
            LAST_PROCESSED.set(now.timestamp())
            # The batch's outputs go out together, one produce batch per partition.
            producer = cast(Any, app.producer)._ensure_producer()
            sends = [
                *await send_batches(producer, partitioner, updates_topic, updates),
                *await send_batches(producer, partitioner, dlq_topic, letters),
            ]
            for topic, records in outputs.items():
                sends.extend(await send_batches(producer, partitioner, topic, records))

            async def ack(done: Sequence[faust.types.EventT[bytes]] = events) -> None:
                for event in done:
                    await manual.ack(event)

            vectors = stored_vectors(last_result)
            await flusher.submit(ProcessedBatch(state_bytes, sends, ack, vectors))

    source_topics = {topics(t) for t in FEATURE_SOURCE_TOPICS}

    @app.timer(interval=5.0)  # type: ignore[untyped-decorator]
    async def report_lag() -> None:
        """``riskstream_consumer_lag`` for the event partitions this worker reads. A faust
        timer that raises crashes the worker, so a partition without a position or
        highwater yet (just assigned) is skipped and any other failure is only logged."""
        consumer = app.consumer
        try:
            for tp in consumer.assignment():
                if tp.topic not in source_topics:
                    continue
                position = await consumer.position(tp)
                highwater = consumer.highwater(tp)
                if position is None or highwater is None:
                    continue
                lag = max(highwater - position, 0)
                metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition), settings.app_id).set(lag)
        except Exception:
            log.exception("consumer lag not measured")

    guard = EpochGuard(
        Writer.FEATURES, EpochMarker(redis, keys, Writer.FEATURES), settings.redis_epoch_check_s
    )

    def owned() -> frozenset[int] | None:
        """The event partitions this worker owns, once its table is recovered (None while
        a rebalance or recovery runs)."""
        if app.rebalancing:
            return None
        return frozenset(
            tp.partition for tp in app.consumer.assignment() if tp.topic in source_topics
        )

    def read_states(customers: Sequence[str]) -> dict[str, bytes]:
        """The customers' states in the table now. Read from the flusher's task, which
        may carry a record's context: the table must search the worker's partitions."""
        token = current_event_var.set(None)
        try:
            found = ((c, table.get(c.encode())) for c in customers)
            return {customer: state for customer, state in found if state is not None}
        finally:
            current_event_var.reset(token)

    async def rewrite(partitions: frozenset[int]) -> bool:
        """Rewrites every state the worker owns (its table holds only its partitions),
        paced, through the flusher's in-order queue; stops short when a rebalance begins
        meanwhile."""
        generation = app.rebalancing_count
        pacer = Pacer(settings.redis_rebuild_rate)
        customers = [key.decode() for key in table]
        batch = settings.redis_rebuild_batch
        for start in range(0, len(customers), batch):
            chunk = customers[start : start + batch]
            if app.rebalancing or app.rebalancing_count != generation:
                return False
            await pacer.take(len(chunk))
            await flusher.submit(Rewrite(chunk, read_states))
        await flusher.barrier()
        return not app.rebalancing and app.rebalancing_count == generation

    @app.task  # type: ignore[untyped-decorator]
    async def guard_store() -> None:
        """Rebuilds the worker's keys whenever Redis lost them (see EpochGuard)."""
        await guard.run(owned, rewrite)

    @app.on_partitions_revoked.connect
    async def stop_rewrites(
        sender: faust.App, /, *args: Any, signal: BaseSignalT[Any], **kwargs: Any
    ) -> None:
        """Nothing this worker queued may reach Redis once another owns the partitions."""
        await guard.cancel()
        await flusher.barrier()

    @app.page("/metrics")
    async def metrics_page(view: View, request: Request) -> Response:
        body, content_type = metrics.render_metrics()
        return view.bytes(body, content_type=content_type.split(";")[0])

    @app.page("/live")
    async def live_page(view: View, request: Request) -> Response:
        return view.json({"status": "live"})

    @app.page("/ready")
    async def ready_page(view: View, request: Request) -> Response:
        checks = {
            "kafka": app.consumer is not None and bool(app.consumer.assignment()),
            "redis": await _redis_ok(redis),
            "store_complete": guard.complete(),
        }
        return view.json(
            {"ready": all(checks.values()), "checks": checks, **await guard.details()},
            status=200 if all(checks.values()) else 503,
        )

    return app


def make_current(event: faust.types.EventT[bytes]) -> None:
    """Makes ``event`` the current event of this task, for the table: faust reads and
    writes a table in the partition of the current event, a context variable its stream
    sets for each record it yields, and a batch sets here for each record. (Not
    ``Stream._set_current_event``: that also sets the stream's ``current_event``
    attribute, which the take buffer reads while it fills the next batch.)"""
    current_event_var.set(weakref.ref(event))


def _source_record(message: faust.types.Message) -> SourceRecord:
    return SourceRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        timestamp_ms=int(message.timestamp * 1000) if message.timestamp else None,
    )


async def _redis_ok(redis: Redis) -> bool:
    try:
        return bool(await redis.ping())
    except Exception:
        return False
