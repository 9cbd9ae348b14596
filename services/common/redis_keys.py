"""The Redis key layout shared by the feature service (writer of feature state), the warning
service (writer of risk state) and the scorer (reader of both in one round trip).

Layout version 1: ``<prefix>:v1:{<customer_id>}:features``, ``...:vector``, ``...:risk``,
``...:warning`` and
``...:decisions``; the decision copies ``<prefix>:v1:decision:<decision_id>``.
The braces are a Redis Cluster hash tag, so a customer's keys live in one slot and one
``MGET`` reads features and risk state together.

Beside the customers' keys, each writer keeps an *epoch key* (``<prefix>:v1:epoch:<writer>``):
a bitmap whose bit ``p`` says that the writer's keys of Kafka partition ``p`` are complete
in this Redis. Redis holds copies only; a key space that vanished (a flush, a restart
without its data, a failover to an empty replica) takes the epoch keys with it, so a
reader that finds a writer's bitmap incomplete cannot tell a new customer from a lost one
and must fail closed (see :func:`epoch_covers`). A writer sets its bits only after it has
rewritten every key of those partitions from its durable copy in Kafka.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

KEY_LAYOUT_VERSION = 1


class Writer(StrEnum):
    """The writers of customer keys, each with an epoch key of its own."""

    FEATURES = "features"
    """The feature worker: ``:features`` keys, rebuilt from its table's changelog."""
    WARNING = "warning"
    """The warning service: ``:warning`` and ``:risk`` keys, rebuilt from ``warning.state``."""


@dataclass(frozen=True, slots=True)
class RedisKeys:
    prefix: str = "rs"

    def _customer(self, customer_id: str) -> str:
        return f"{self.prefix}:v{KEY_LAYOUT_VERSION}:{{{customer_id}}}"

    def feature_state(self, customer_id: str) -> str:
        """Serialised per-customer feature state (``CustomerState.to_bytes``)."""
        return f"{self._customer(customer_id)}:features"

    def feature_vector(self, customer_id: str) -> str:
        """The feature vector precomputed from the customer's feature state and the instant
        until which it is exact (``FeatureVector.to_bytes``; empty: none applies). Written
        in the same ``MSET`` as the state, so the two always describe the same state."""
        return f"{self._customer(customer_id)}:vector"

    def feature_state_pattern(self) -> str:
        """SCAN pattern matching every customer's feature state key."""
        return f"{self.prefix}:v{KEY_LAYOUT_VERSION}:{{*}}:features"

    def customer_of_feature_state(self, key: str) -> str | None:
        """The customer whose feature state ``key`` is (None: not such a key)."""
        head, tail = f"{self.prefix}:v{KEY_LAYOUT_VERSION}:{{", "}:features"
        if key.startswith(head) and key.endswith(tail) and len(key) > len(head) + len(tail):
            return key[len(head) : -len(tail)]
        return None

    def rescored(self, partition: int) -> str:
        """The last day (ISO date) the dormant-customer scheduler re-scored ``partition``:
        a progress marker only; if lost, that day's run repeats with the same ids."""
        return f"{self.prefix}:v{KEY_LAYOUT_VERSION}:rescored:{partition}"

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

    def epoch(self, writer: Writer) -> str:
        """The writer's epoch key: a bitmap of the partitions whose keys are complete."""
        return f"{self.prefix}:v{KEY_LAYOUT_VERSION}:epoch:{writer.value}"

    def rebuild_claim(self, writer: Writer, token: str) -> str:
        """Set while one rebuild of ``writer`` runs; a flush during the rebuild removes it,
        so the rebuild knows its earlier writes are gone and must not set its bits."""
        return f"{self.epoch(writer)}:rebuild:{token}"


def epoch_bits(partitions: Iterable[int]) -> bytes:
    """The bitmap with exactly ``partitions`` set, as Redis ``SETBIT`` lays it out (bit
    ``p`` is bit ``7 - p % 8``, the most significant first, of byte ``p // 8``)."""
    chosen = sorted(set(partitions))
    if not chosen:
        return b""
    bitmap = bytearray(chosen[-1] // 8 + 1)
    for partition in chosen:
        if partition < 0:
            raise ValueError(f"a partition number is never negative: {partition}")
        bitmap[partition // 8] |= 0x80 >> (partition % 8)
    return bytes(bitmap)


def epoch_partitions(value: bytes | None) -> set[int]:
    """The partitions an epoch key's value marks complete (none for a missing key)."""
    if not value:
        return set()
    return {
        index * 8 + bit
        for index, byte in enumerate(value)
        for bit in range(8)
        if byte & (0x80 >> bit)
    }


def epoch_covers(value: bytes | None, partitions: int) -> bool:
    """True when the epoch key's value marks every partition ``0 .. partitions - 1``
    complete: only then does a missing customer key mean a customer never seen."""
    wanted = epoch_bits(range(partitions))
    if value is None or len(value) < len(wanted):
        return False
    return all(have & want == want for have, want in zip(value, wanted, strict=False))
