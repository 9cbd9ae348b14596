"""The Redis key layout shared by the feature service (writer of feature state), the warning
service (writer of risk state) and the scorer (reader of both in one round trip).

Layout version 1: ``<prefix>:v1:{<customer_id>}:features``, ``...:risk``, ``...:warning`` and
``...:decisions``; the decision copies ``<prefix>:v1:decision:<decision_id>``.
The braces are a Redis Cluster hash tag, so a customer's keys live in one slot and one
``MGET`` reads features and risk state together.
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

    def warning_state(self, customer_id: str) -> str:
        """The warning service's own per-customer state (rules in force, cooldowns), from
        which it derives the ``risk_state`` view."""
        return f"{self._customer(customer_id)}:warning"

    def open_cases(self) -> str:
        """Sorted set of the warning service's review cases waiting for a decision (score:
        opened at, epoch seconds); derived from the warning states, written with them."""
        return f"{self.prefix}:v{KEY_LAYOUT_VERSION}:cases:open"

    def case_owners(self) -> str:
        """Hash of review case id to customer id, derived from the warning states."""
        return f"{self.prefix}:v{KEY_LAYOUT_VERSION}:cases:owner"

    def customer_decisions(self, customer_id: str) -> str:
        """Sorted set of the customer's decision ids, scored by ``decided_at`` (epoch ms):
        the index of ``riskstream decisions list --customer``."""
        return f"{self._customer(customer_id)}:decisions"

    def decision(self, decision_id: str) -> str:
        """JSON ``DecisionRecord``: the copy of the decision's record on ``risk.decisions``."""
        return f"{self.prefix}:v{KEY_LAYOUT_VERSION}:decision:{decision_id}"

    def decision_copy_epoch(self) -> str:
        """Marker of the decision copy: set when the copy began; its absence means the copy
        is gone (a flushed or replaced Redis) and must be rebuilt from ``risk.decisions``."""
        return f"{self.prefix}:v{KEY_LAYOUT_VERSION}:decisions:epoch"

    def customer_pattern(self) -> str:
        """SCAN pattern matching every per-customer key of this layout and prefix."""
        return f"{self.prefix}:v{KEY_LAYOUT_VERSION}:*"
