"""Kafka topic names (see CONTRACTS.md) and how many partitions each gets.

Every name can be prefixed (``RISKSTREAM_TOPIC_PREFIX``) so that tests and side-by-side
deployments on one broker never share a topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Topic(StrEnum):
    """Unprefixed topic names, as written in the contracts."""

    ORDERS = "events.orders"
    PAYMENTS = "events.payments"
    REFUNDS = "events.refunds"
    REVIEWS = "events.reviews"
    DLQ = "events.dlq"
    FEATURE_UPDATES = "features.updates"
    SCORES = "risk.scores"
    ACTIONS = "risk.actions"
    AUDIT = "risk.audit"
    MODEL_CONTROL = "models.control"
    WARNING_STATE = "warning.state"


EVENT_TOPICS: dict[str, Topic] = {
    "order": Topic.ORDERS,
    "payment": Topic.PAYMENTS,
    "refund": Topic.REFUNDS,
    "review": Topic.REVIEWS,
}
"""Inbound ``event_type`` to the topic that carries it."""

REPORTED_TOPICS = frozenset({Topic.SCORES, Topic.ACTIONS})
"""Topics the portfolio report reads back over a whole quarter."""
REPORT_RETENTION_MS = str(100 * 24 * 3600 * 1000)
"""100 days: a quarter (at most 92 days) plus a week to run the report after it ends."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """What ``riskstream topics create`` makes for one topic."""

    name: str
    partitions: int
    config: dict[str, str]


@dataclass(frozen=True, slots=True)
class TopicNames:
    """Resolves contract topic names under an optional prefix."""

    prefix: str = ""

    def __call__(self, topic: Topic) -> str:
        return f"{self.prefix}{topic.value}"

    def event_topic(self, event_type: str) -> str:
        """The topic for an inbound ``event_type``; KeyError for an unknown one."""
        return self(EVENT_TOPICS[event_type])

    def specs(self, event_partitions: int) -> list[TopicSpec]:
        """Every topic the platform uses, with its partition count and configuration.

        The four event topics and ``features.updates`` share ``event_partitions`` so a
        customer's records stay co-partitioned from ingest to scoring. ``models.control``
        is compacted and single-partition so every scorer sees one ordered history.
        ``risk.scores`` and ``risk.actions`` are kept long enough for a quarterly portfolio
        report (``riskstream report``) to read a whole quarter back. ``warning.state`` is
        the warning service's compacted changelog: keyed by customer like ``risk.scores``
        and with as many partitions, so a partition's scores and states go together.
        """
        week_ms = str(7 * 24 * 3600 * 1000)
        specs: list[TopicSpec] = []
        for topic in Topic:
            if topic in REPORTED_TOPICS:
                specs.append(
                    TopicSpec(self(topic), event_partitions, {"retention.ms": REPORT_RETENTION_MS})
                )
            elif topic is Topic.MODEL_CONTROL:
                specs.append(TopicSpec(self(topic), 1, {"cleanup.policy": "compact"}))
            elif topic is Topic.WARNING_STATE:
                specs.append(
                    TopicSpec(self(topic), event_partitions, {"cleanup.policy": "compact"})
                )
            elif topic is Topic.AUDIT:
                specs.append(TopicSpec(self(topic), 1, {"retention.ms": "-1"}))
            elif topic is Topic.DLQ:
                specs.append(
                    TopicSpec(self(topic), 1, {"retention.ms": str(30 * 24 * 3600 * 1000)})
                )
            else:
                specs.append(TopicSpec(self(topic), event_partitions, {"retention.ms": week_ms}))
        return specs
