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
    PROFILE = "events.profile"
    DLQ = "events.dlq"
    FEATURE_UPDATES = "features.updates"
    SCORES = "risk.scores"
    ACTIONS = "risk.actions"
    AUDIT = "risk.audit"
    MODEL_CONTROL = "models.control"
    ADMIN_CHANGES = "admin.changes"
    DECISIONS = "risk.decisions"
    WARNING_STATE = "warning.state"
    SIGNALS_SHARED = "signals.shared"
    """The exchange with partner platforms (hashed identifiers only); by default a topic
    of this cluster, or any topic of any cluster by configuration (docs/sharing.md)."""
    SIGNAL_SUBJECTS = "signals.subjects"
    """Accepted signals and customers' identifier hashes, keyed by the identifier hash."""
    SIGNAL_MATCHES = "signals.matched"
    """Signals that reached a customer, keyed by customer id like the events."""


EVENT_TOPICS: dict[str, Topic] = {
    "order": Topic.ORDERS,
    "payment": Topic.PAYMENTS,
    "refund": Topic.REFUNDS,
    "review": Topic.REVIEWS,
    "registration": Topic.PROFILE,
    "verification": Topic.PROFILE,
    "bureau_report": Topic.PROFILE,
}
"""Inbound ``event_type`` to the topic that carries it (the three onboarding events share
``events.profile``)."""
INBOUND_TOPICS: tuple[Topic, ...] = tuple(dict.fromkeys(EVENT_TOPICS.values()))
"""The topics of inbound events, each once, in contract order."""
FEATURE_SOURCE_TOPICS: tuple[Topic, ...] = (
    *INBOUND_TOPICS,
    Topic.SIGNAL_MATCHES,
    Topic.SIGNAL_SUBJECTS,
)
"""What the feature worker reads, all with the event partition count: the inbound events
and matched signals keyed by customer, and the identifier hashes keyed by hash."""

REPORTED_TOPICS = frozenset({Topic.SCORES, Topic.ACTIONS, Topic.PAYMENTS})
"""Topics the portfolio report and the outcomes monitor read back over a whole quarter
(payments: the bad outcomes of the customers scored in it)."""
REPORT_RETENTION_MS = str(100 * 24 * 3600 * 1000)
"""100 days: a quarter (at most 92 days) plus a week to run the report after it ends."""
DEFAULT_DECISION_RETENTION_DAYS = 400
"""How long ``risk.decisions`` keeps a decision by default: a year and a quarter, so a
decision can be shown to an auditor or a customer who disputes it a year on, and the
portfolio report of the last quarter joins it with the outcomes that followed."""


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
    decision_retention_days: int = DEFAULT_DECISION_RETENTION_DAYS

    def __call__(self, topic: Topic) -> str:
        return f"{self.prefix}{topic.value}"

    def event_topic(self, event_type: str) -> str:
        """The topic for an inbound ``event_type``; KeyError for an unknown one."""
        return self(EVENT_TOPICS[event_type])

    def specs(self, event_partitions: int) -> list[TopicSpec]:
        """Every topic the platform uses, with its partition count and configuration.

        The event topics, ``signals.matched``, ``signals.subjects`` and
        ``features.updates`` share ``event_partitions`` so a customer's records stay
        co-partitioned from ingest to scoring (and the feature worker's two tables with
        them). ``signals.shared`` keeps a month for partners that read it late.
        ``models.control`` and ``admin.changes`` are compacted and single-partition so every
        reader sees one ordered history.
        ``risk.scores`` and ``risk.actions`` are kept long enough for a quarterly portfolio
        report (``riskstream report``) to read a whole quarter back. ``risk.decisions``
        is kept ``decision_retention_days``. ``warning.state`` is
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
            elif topic is Topic.DECISIONS:
                retention_ms = str(self.decision_retention_days * 24 * 3600 * 1000)
                specs.append(
                    TopicSpec(self(topic), event_partitions, {"retention.ms": retention_ms})
                )
            elif topic in (Topic.MODEL_CONTROL, Topic.ADMIN_CHANGES):
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
            elif topic is Topic.SIGNALS_SHARED:
                specs.append(
                    TopicSpec(
                        self(topic),
                        event_partitions,
                        {"retention.ms": str(30 * 24 * 3600 * 1000)},
                    )
                )
            else:
                specs.append(TopicSpec(self(topic), event_partitions, {"retention.ms": week_ms}))
        return specs
