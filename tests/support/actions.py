"""Reading the risk actions a test's warning service published."""

from __future__ import annotations

import asyncio

import orjson
from aiokafka import AIOKafkaConsumer

from schemas.actions import RiskAction
from services.common.settings import ServiceSettings
from services.common.topics import Topic


async def read_actions(settings: ServiceSettings) -> list[RiskAction]:
    """Every action on this test's ``risk.actions``, read until the topic is quiet."""
    consumer = AIOKafkaConsumer(
        settings.topics(Topic.ACTIONS),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    found: list[RiskAction] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=1500)
            if not batch:
                return found
            for messages in batch.values():
                found.extend(RiskAction.model_validate(orjson.loads(m.value)) for m in messages)
    finally:
        await consumer.stop()


def actions_of(settings: ServiceSettings) -> dict[str, list[str]]:
    """The action types each customer received, in order."""
    by_customer: dict[str, list[str]] = {}
    for action in asyncio.run(read_actions(settings)):
        by_customer.setdefault(action.customer_id, []).append(action.action)
    return by_customer
