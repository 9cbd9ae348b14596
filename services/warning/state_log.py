"""Reading ``warning.state`` back: the last state of every customer on some partitions,
for a rebuild of the Redis copies (:meth:`services.warning.usecase.WarningDesk.restore`).

The topic is compacted, keyed by customer and partitioned like ``risk.scores``, so the
partitions a warning service consumes hold the states of exactly its customers. It is read
without a consumer group, from the first offset to the end offsets it had when reading
began; the latest record of a customer wins.
"""

from __future__ import annotations

from collections.abc import Collection

from services.common.kafka import read_to_end
from services.common.settings import ServiceSettings
from services.common.topics import Topic


class KafkaStateHistory:
    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._topic = settings.topics(Topic.WARNING_STATE)

    async def latest(self, partitions: Collection[int]) -> dict[str, bytes]:
        """Raises aiokafka's errors when Kafka does not answer (the caller retries)."""
        if not partitions:
            return {}
        states: dict[str, bytes] = {}
        for record in await read_to_end(self._settings, self._topic, partitions):
            if record.key is None:
                continue
            customer_id = record.key.decode()
            if record.value is None:
                states.pop(customer_id, None)
            else:
                states[customer_id] = record.value
        return states
