"""Reading ``warning.state`` back: the last state of every customer on some partitions,
for a rebuild of the Redis copies (:meth:`services.warning.usecase.WarningDesk.restore`).

The topic is compacted, keyed by customer and partitioned like ``risk.scores``, so the
partitions a warning service consumes hold the states of exactly its customers. It is read
without a consumer group, from the first offset to the end offsets it had when reading
began; the latest record of a customer wins.
"""

from __future__ import annotations

from collections.abc import Collection

from aiokafka import TopicPartition

from services.common.kafka import make_consumer
from services.common.settings import ServiceSettings
from services.common.topics import Topic


class KafkaStateHistory:
    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._topic = settings.topics(Topic.WARNING_STATE)

    async def latest(self, partitions: Collection[int]) -> dict[str, bytes]:
        """Raises aiokafka's errors when Kafka does not answer (the caller retries)."""
        assigned = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        if not assigned:
            return {}
        consumer = make_consumer(self._settings, group_id=None, max_poll_records=5000)
        await consumer.start()
        try:
            consumer.assign(assigned)
            ends = await consumer.end_offsets(assigned)
            await consumer.seek_to_beginning(*assigned)
            remaining = {tp for tp in assigned if ends[tp] > 0}
            states: dict[str, bytes] = {}
            while remaining:
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
                if not remaining:
                    break
                batches = await consumer.getmany(*remaining, timeout_ms=500)
                for tp, records in batches.items():
                    for record in records:
                        if record.offset >= ends[tp] or record.key is None:
                            continue
                        customer_id = record.key.decode()
                        if record.value is None:
                            states.pop(customer_id, None)
                        else:
                            states[customer_id] = record.value
            return states
        finally:
            await consumer.stop()
