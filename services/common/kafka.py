"""aiokafka clients built from settings, and idempotent topic creation.

Producers are idempotent with ``acks=all``: a send is acknowledged only once every in-sync
replica has it, and a retried send is not written twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from services.common.settings import ServiceSettings
from services.common.topics import TopicSpec


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


def make_producer(settings: ServiceSettings, **overrides: Any) -> AIOKafkaProducer:
    """An idempotent, acks=all producer. Call ``await producer.start()`` before use."""
    options: dict[str, Any] = {
        **client_kwargs(settings),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 2,
        "request_timeout_ms": 10_000,
        "client_id": settings.service_name,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def make_consumer(
    settings: ServiceSettings, *topics: str, group_id: str | None, **overrides: Any
) -> AIOKafkaConsumer:
    """A consumer with manual commits (commit after the effect: at-least-once)."""
    options: dict[str, Any] = {
        **client_kwargs(settings),
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "client_id": settings.service_name,
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


async def ensure_topics(
    settings: ServiceSettings, specs: list[TopicSpec] | None = None
) -> list[str]:
    """Creates the platform's topics that do not exist yet; returns the names it created.

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
        return [spec.name for spec in missing]
    finally:
        await admin.close()


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
