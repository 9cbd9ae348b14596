"""The Redis store as its writers leave it: tests that write customers' keys themselves
also set what the feature worker and the warning service set once their keys are complete
(their epoch keys), or the scorer rightly answers ``store_rebuilding``."""

from __future__ import annotations

from services.common.redis_keys import RedisKeys, Writer, epoch_bits
from services.common.settings import ServiceSettings
from tests.support.parity import redis_client


def mark_store_complete(settings: ServiceSettings) -> None:
    """Both writers' epoch keys, covering every event partition."""
    keys = RedisKeys(settings.redis_key_prefix)
    complete = epoch_bits(range(settings.event_partitions))
    client = redis_client(settings)
    try:
        client.mset({keys.epoch(writer): complete for writer in Writer})
    finally:
        client.close()
