"""The Redis store as its writers leave it: tests that write customers' keys themselves
also set what the feature worker and the warning service set once their keys are complete
(their epoch keys), or the scorer rightly answers ``store_rebuilding``."""

from __future__ import annotations

from datetime import UTC, datetime

from services.common.redis_keys import RedisKeys, Writer, epoch_bits
from services.common.settings import ServiceSettings
from services.features.core import CustomerState, compute_features
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


def stored_features(settings: ServiceSettings, customer_id: str) -> dict[str, float | None]:
    """The customer's features from the state the worker put in Redis ({} when none)."""
    client = redis_client(settings)
    try:
        stored = client.get(RedisKeys(settings.redis_key_prefix).feature_state(customer_id))
    finally:
        client.close()
    if stored is None:
        return {}
    return compute_features(CustomerState.from_bytes(stored), datetime.now(UTC))
