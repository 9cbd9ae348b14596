"""The Redis key layout shared by the feature service (writer of feature state), the warning
service (writer of risk state) and the scorer (reader of both in one round trip).

Layout version 1: ``<prefix>:v1:{<customer_id>}:features`` and ``...:risk``. The braces are a
Redis Cluster hash tag, so both keys of a customer live in one slot and one ``MGET`` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

KEY_LAYOUT_VERSION = 1


@dataclass(frozen=True, slots=True)
class RedisKeys:
    prefix: str = "rs"

    def _customer(self, customer_id: str) -> str:
        return f"{self.prefix}:v{KEY_LAYOUT_VERSION}:{{{customer_id}}}"

    def feature_state(self, customer_id: str) -> str:
        """Serialised per-customer feature state (``CustomerState.to_bytes``)."""
        return f"{self._customer(customer_id)}:features"

    def risk_state(self, customer_id: str) -> str:
        """JSON ``CustomerRiskState`` written by the warning service."""
        return f"{self._customer(customer_id)}:risk"

    def customer_pattern(self) -> str:
        """SCAN pattern matching every per-customer key of this layout and prefix."""
        return f"{self.prefix}:v{KEY_LAYOUT_VERSION}:*"
