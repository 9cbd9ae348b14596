"""The metrics convention shared by every service.

Names are ``riskstream_<area>_<what>_<unit>``; units are seconds and bytes; counters end in
``_total``. Label sets stay small and bounded: route templates (never raw paths), topics,
event types, outcomes, model versions; never customer ids.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Callable
from typing import TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# The *_created series double every counter's size and no dashboard reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

Metric = TypeVar("Metric", Counter, Gauge, Histogram)


def cached_labels(metric: Metric) -> Callable[..., Metric]:
    """``metric.labels``, memoised: prometheus_client checks the values and takes a lock
    on every call, which a request or a record would pay several times over. Label
    values are few by this module's convention, so the cache stays small."""
    return functools.cache(metric.labels)


LATENCY_BUCKETS_S = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
"""Request and stage latency buckets: fine below 10 ms, where the checkout SLO lives."""

EVENT_AGE_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)
"""End-to-end event age buckets: from milliseconds (live) to an hour (replays, backlogs)."""

HTTP_REQUESTS = Counter(
    "riskstream_http_requests_total",
    "HTTP requests served, by route template, method and status code.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "riskstream_http_request_duration_seconds",
    "Time from request received to response sent, by route template.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS_S,
)
KAFKA_PRODUCE_ERRORS = Counter(
    "riskstream_kafka_produce_errors_total",
    "Records a producer failed to have acknowledged, by topic.",
    ["topic"],
)
DEAD_LETTERS = Counter(
    "riskstream_dead_letters_total",
    "Records sent to the dead-letter topic, by source topic and reason.",
    ["source_topic", "reason"],
)
EVENT_AGE = Histogram(
    "riskstream_stage_event_age_seconds",
    "Seconds from a record's production into Kafka to its processing, by stage.",
    ["stage"],
    buckets=EVENT_AGE_BUCKETS_S,
)
CONSUMER_LAG = Gauge(
    "riskstream_consumer_lag",
    "Records not yet consumed (highwater - position), by topic, partition and group.",
    ["topic", "partition", "group"],
)
BUILD_INFO = Gauge(
    "riskstream_build_info",
    "Constant 1, labelled with the service and its version.",
    ["service", "version"],
)


def record_build(service: str) -> None:
    """Sets ``riskstream_build_info{service, version}`` to 1 for this process."""
    try:
        version = importlib.metadata.version("riskstream")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    BUILD_INFO.labels(service, version).set(1)


def render_metrics() -> tuple[bytes, str]:
    """The process's metrics in Prometheus text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


REDIS_REBUILDS = Counter(
    "riskstream_redis_rebuilds_total",
    "Rebuilds of a writer's Redis keys started because its epoch key was missing or "
    "incomplete (Redis lost data), by writer (features, warning).",
    ["writer"],
)
REDIS_REBUILDING = Gauge(
    "riskstream_redis_rebuilding",
    "1 while this process rebuilds its share of a writer's Redis keys, by writer.",
    ["writer"],
)
REDIS_REBUILT_KEYS = Counter(
    "riskstream_redis_rebuilt_keys_total",
    "Customer keys rewritten to Redis from Kafka (a rebuild, or the refresh after a "
    "rebalance), by writer.",
    ["writer"],
)
