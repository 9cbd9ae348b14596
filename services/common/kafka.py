"""aiokafka clients built from settings, and idempotent topic creation.

Producers use ``acks=all``: a send is acknowledged only once every in-sync replica has it.
They are not idempotent producers: aiokafka 0.14 gives a sequence number to a batch it
expires while a partition has no leader (as during a broker restart) and never sends it, and
every later batch of that partition is then refused as out of order, forever. aiokafka keeps
one request in flight per broker, so retries keep each key's records in order; a retry after
a lost acknowledgement may write a record twice, which every consumer tolerates (events are
deduplicated by ``event_id``, scores and actions carry stable ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Collection, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner, murmur2

from services.common import metrics
from services.common.settings import ServiceSettings
from services.common.topics import TopicSpec

log = logging.getLogger(__name__)


def tls_context(settings: ServiceSettings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL listeners (None for plaintext ones)."""
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
    if settings.kafka_ssl_certfile:
        context.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile)
    return context


def client_kwargs(settings: ServiceSettings) -> dict[str, Any]:
    """Connection and security options shared by producers, consumers and admin clients."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    context = tls_context(settings)
    if context is not None:
        kwargs["ssl_context"] = context
    if settings.kafka_sasl_mechanism:
        kwargs["sasl_mechanism"] = settings.kafka_sasl_mechanism
        kwargs["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            kwargs["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return kwargs


class KeyPartitioner:
    """aiokafka's default partitioning (the Java client's: murmur2 of the key modulo the
    partition count, a random partition for no key), remembering each key's hash: the
    pure-Python murmur2 costs more than the rest of a send, and the same customers come
    back again and again. At most ``capacity`` hashes are kept."""

    def __init__(self, capacity: int = 65_536) -> None:
        self._capacity = capacity
        self._hashes: dict[bytes, int] = {}

    def index(self, key: bytes, count: int) -> int:
        """The position of ``key``'s partition among ``count`` partitions."""
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self._capacity:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return hashed % count

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return int(DefaultPartitioner()(key, all_partitions, available))
        return all_partitions[self.index(key, len(all_partitions))]


def make_producer(
    settings: ServiceSettings, partitioner: KeyPartitioner | None = None, **overrides: Any
) -> AIOKafkaProducer:
    """An acks=all producer (see the module docstring for why not an idempotent one),
    partitioning by key with ``partitioner`` (a new one when not given). Call
    ``await producer.start()`` before use."""
    options: dict[str, Any] = {
        **client_kwargs(settings),
        "acks": "all",
        "enable_idempotence": False,
        "linger_ms": settings.kafka_linger_ms,
        "max_batch_size": settings.kafka_batch_bytes,
        "partitioner": partitioner or KeyPartitioner(),
        "request_timeout_ms": 10_000,
        "client_id": settings.service_name,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


async def send_batches(
    producer: AIOKafkaProducer,
    partitioner: KeyPartitioner,
    topic: str,
    records: Sequence[tuple[bytes | None, bytes]],
) -> list[asyncio.Future[Any]]:
    """Queues ``records`` on ``topic`` as one batch per partition (in order within each),
    closed so that they go out at once rather than after the producer's linger; returns
    one future per batch, resolved on acknowledgement. A record costs an append to a
    batch instead of a whole ``send`` (serialisation checks, partitioning and a future
    each). ``partitioner`` must be the producer's own, so a key lands where ``send`` would
    put it; records without a key take ``send``, which picks a partition at random."""
    if not records:
        return []
    partitions = sorted(await producer.partitions_for(topic))
    batches: dict[int, list[Any]] = {}
    futures: list[asyncio.Future[Any]] = []
    for key, value in records:
        if key is None:
            futures.append(await producer.send(topic, value=value))
            continue
        partition = partitions[partitioner.index(key, len(partitions))]
        builders = batches.get(partition)
        if builders is None:
            builders = batches[partition] = [producer.create_batch()]
        if builders[-1].append(key=key, value=value, timestamp=None) is None:
            builders.append(producer.create_batch())
            if builders[-1].append(key=key, value=value, timestamp=None) is None:
                raise MessageSizeTooLargeError(f"a record of {len(value)} bytes for {topic}")
    for partition, builders in batches.items():
        for builder in builders:
            builder.close()
            futures.append(await producer.send_batch(builder, topic, partition=partition))
    return futures


def make_consumer(
    settings: ServiceSettings, *topics: str, group_id: str | None, **overrides: Any
) -> AIOKafkaConsumer:
    """A consumer with manual commits (commit after the effect: at-least-once) whose
    fetches return as the settings say (``kafka_fetch_min_bytes``, ``..._max_wait_ms``)."""
    options: dict[str, Any] = {
        **client_kwargs(settings),
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "fetch_min_bytes": settings.kafka_fetch_min_bytes,
        "fetch_max_wait_ms": settings.kafka_fetch_max_wait_ms,
        "client_id": settings.service_name,
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


async def ensure_topics(
    settings: ServiceSettings, specs: list[TopicSpec] | None = None, timeout_s: float = 30.0
) -> list[str]:
    """Creates the platform's topics that do not exist yet; returns the names it created,
    once the cluster describes each with all its partitions led (on a cluster of several
    brokers a new topic takes a moment to reach every broker's metadata; a client that
    asks too early sees no partitions). TimeoutError after ``timeout_s``.

    Idempotent: existing topics are left as they are (their partition count included).
    """
    wanted = specs if specs is not None else settings.topics.specs(settings.event_partitions)
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in wanted if spec.name not in existing]
        if not missing:
            return []
        new_topics = [
            NewTopic(
                name=spec.name,
                num_partitions=spec.partitions,
                replication_factor=settings.topic_replication_factor,
                topic_configs=spec.config,
            )
            for spec in missing
        ]
        # Another process may create them between our listing and our request.
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(new_topics)
        await _wait_until_led(admin, missing, timeout_s)
        return [spec.name for spec in missing]
    finally:
        await admin.close()


async def _wait_until_led(
    admin: AIOKafkaAdminClient, specs: list[TopicSpec], timeout_s: float
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    partitions = {spec.name: spec.partitions for spec in specs}
    while True:
        described = await admin.describe_topics(list(partitions))
        led = {
            str(topic["topic"])
            for topic in described
            if not topic.get("error_code")
            and len(topic["partitions"]) == partitions[str(topic["topic"])]
            and all(partition["leader"] >= 0 for partition in topic["partitions"])
        }
        if led >= set(partitions):
            return
        if loop.time() > deadline:
            raise TimeoutError(f"topics not ready after {timeout_s} s: {set(partitions) - led}")
        await asyncio.sleep(0.1)


async def describe_topics(settings: ServiceSettings) -> dict[str, int]:
    """Partition count of every platform topic that exists (missing topics are absent)."""
    names = {spec.name for spec in settings.topics.specs(settings.event_partitions)}
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        described = await admin.describe_topics(
            [n for n in names if n in set(await admin.list_topics())]
        )
        return {
            str(topic["topic"]): len(topic["partitions"])
            for topic in described
            if not topic.get("error_code")
        }
    finally:
        await admin.close()


async def wait_for_kafka(settings: ServiceSettings, timeout_s: float = 60.0) -> None:
    """Returns when the cluster answers a metadata request; TimeoutError after timeout_s."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    last_error: Exception | None = None
    while asyncio.get_running_loop().time() < deadline:
        admin = AIOKafkaAdminClient(**client_kwargs(settings), request_timeout_ms=3_000)
        try:
            await admin.start()
            await admin.describe_cluster()
            return
        except Exception as error:  # any failure means "not ready yet"
            last_error = error
        finally:
            await admin.close()
        await asyncio.sleep(0.5)
    raise TimeoutError(f"Kafka at {settings.kafka_bootstrap_servers} not ready: {last_error}")


async def read_to_end(
    settings: ServiceSettings, topic: str, partitions: Collection[int] | None = None
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` (or of its ``partitions``) from the first offset to the
    end offset each partition had when reading began, partition by partition in offset
    order. No consumer group: nothing is committed. Raises aiokafka's errors when Kafka
    does not answer."""
    consumer = make_consumer(settings, group_id=None, max_poll_records=5000)
    await consumer.start()
    try:
        numbers = partitions if partitions is not None else consumer.partitions_for_topic(topic)
        if numbers is None:  # metadata not fetched yet
            await consumer._client.force_metadata_update()
            numbers = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, p) for p in sorted(numbers)]
        if not assigned:
            return []
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        await consumer.seek_to_beginning(*assigned)
        by_partition: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {
            tp: [] for tp in assigned
        }
        remaining = set(assigned)
        while remaining:
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            if not remaining:
                break
            batches = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, records in batches.items():
                by_partition[tp].extend(r for r in records if r.offset < ends[tp])
        return [record for tp in assigned for record in by_partition[tp]]
    finally:
        await consumer.stop()


async def uncommitted_records(settings: ServiceSettings, group_id: str, topics: list[str]) -> int:
    """How many records of ``topics`` lie past the offsets ``group_id`` has committed
    (a partition never committed counts from its first offset)."""
    consumer = make_consumer(settings, group_id=group_id)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or set())
        ]
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        behind = 0
        for tp in partitions:
            committed = await consumer.committed(tp)
            behind += ends[tp] - (committed if committed is not None else starts[tp])
        return behind
    finally:
        await consumer.stop()


class ProducerUnavailableError(Exception):
    """Kafka did not acknowledge in time, or the producer is not connected yet. Services
    translate it into their own error type at their edge."""


class ResilientProducer:
    """An acks=all producer that connects in the background and keeps retrying
    while Kafka is unreachable, so the service owning it starts and serves whatever Kafka's
    state; sends fail with :class:`ProducerUnavailableError` until the broker is back."""

    def __init__(self, settings: ServiceSettings, timeout_s: float) -> None:
        self._settings = settings
        self._timeout_s = timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = KeyPartitioner()
        self._connector: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        """Set once the producer is connected (it stays connected: aiokafka reconnects)."""

    async def start(self) -> None:
        """Begins connecting; returns at once."""
        self._connector = asyncio.create_task(self._connect_until_started())

    async def _connect_until_started(self) -> None:
        delay_s = 0.5
        while True:
            producer = make_producer(
                self._settings, self._partitioner, request_timeout_ms=int(self._timeout_s * 1000)
            )
            try:
                await producer.start()
            except KafkaError as error:
                log.warning("kafka not reachable, retrying", extra={"error": str(error)})
                with contextlib.suppress(Exception):
                    await producer.stop()
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 5.0)
                continue
            self._producer = producer
            self.connected.set()
            return

    async def wait_connected(self, timeout_s: float) -> None:
        """Returns once connected; TimeoutError after ``timeout_s``."""
        await asyncio.wait_for(self.connected.wait(), timeout_s)

    async def stop(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        if self._producer is not None:
            await self._producer.stop()

    async def ready(self) -> bool:
        """True when connected and the cluster answers a metadata request within 1 s."""
        producer = self._producer
        if producer is None:
            return False
        try:
            return bool(await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout=1.0))
        except (KafkaError, TimeoutError):
            return False

    def _connected(self, topic: str) -> AIOKafkaProducer:
        producer = self._producer
        if producer is None:
            metrics.KAFKA_PRODUCE_ERRORS.labels(topic).inc()
            raise ProducerUnavailableError("kafka producer not connected")
        return producer

    async def send(self, topic: str, key: bytes | None, value: bytes) -> asyncio.Future[Any]:
        """Queues one record; the returned future resolves on acknowledgement."""
        future: asyncio.Future[Any] = await self._connected(topic).send(topic, value=value, key=key)
        return future

    async def send_batch(
        self, topic: str, records: Sequence[tuple[bytes | None, bytes]]
    ) -> list[asyncio.Future[Any]]:
        """Queues every record in order, one batch per partition sent at once (see
        :func:`send_batches`); the futures resolve on acknowledgement."""
        return await send_batches(self._connected(topic), self._partitioner, topic, records)

    async def send_all(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        """Queues every record in order, then waits for all acknowledgements, at most the
        timeout. On a timeout a record may still reach Kafka later: consumers dedupe.

        One request in flight per broker keeps one key's records in order on retries.

        A single record takes ``send``, which joins the partition's open batch: a closed
        batch (``send_batch``) waits until the one before it has left for the broker, so
        while a partition has no leader (a broker lost) concurrent requests would queue
        behind each other and time out instead of travelling together."""
        if not records:
            return
        try:
            if len(records) == 1:
                ((key, value),) = records
                futures = [await self.send(topic, key, value)]
            else:
                futures = await self.send_batch(topic, records)
            await asyncio.wait_for(asyncio.gather(*futures), self._timeout_s)
        except (KafkaError, TimeoutError) as error:
            metrics.KAFKA_PRODUCE_ERRORS.labels(topic).inc()
            raise ProducerUnavailableError(
                f"kafka did not acknowledge on {topic}: {type(error).__name__}"
            ) from error


class LagReporter:
    """Sets ``riskstream_consumer_lag`` for a consumer's assigned partitions, at most every
    ``interval_s`` (highwater is what the last fetch saw; position is the consumer's)."""

    def __init__(self, group_id: str, interval_s: float = 5.0) -> None:
        self._group_id = group_id
        self._interval_s = interval_s
        self._measured_at = float("-inf")

    async def measure(self, consumer: AIOKafkaConsumer) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._measured_at < self._interval_s:
            return
        self._measured_at = now
        try:
            for partition in consumer.assignment():
                highwater = consumer.highwater(partition)
                if highwater is None:
                    continue
                position = await consumer.position(partition)
                metrics.CONSUMER_LAG.labels(
                    partition.topic, str(partition.partition), self._group_id
                ).set(max(highwater - position, 0))
        except KafkaError:
            # A partition revoked mid-measurement: the next measurement covers it.
            log.debug("consumer lag not measured", exc_info=True)
