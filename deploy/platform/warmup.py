"""Warm start: ``up`` returns only once the platform would answer its first event as fast
as its thousandth. Ready health paths are not enough: a consumer group that has not
finished joining holds the first events for seconds (the broker's initial rebalance delay,
then the assignment), and a service's first request pays for connections and code paths
nothing has used yet.

:func:`wait_warm` waits until every consumer group of the started services owns every
partition of the topics it reads (the group is stable and its members' assignments cover
them) and each service has answered a warm-up request: a read that touches its store and
its model, with no effect (any answer below 500 counts).
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.group import MemberAssignment

from deploy.platform.kafka import run_coroutine
from deploy.platform.processes import LOCALHOST, PlatformError
from services.common.kafka import client_kwargs, describe_topics
from services.common.settings import DEVELOPMENT_CLIENT_KEY, ServiceSettings
from services.common.topics import EVENT_TOPICS, Topic
from services.features.settings import FeaturesSettings
from services.scorer.settings import ScorerSettings
from services.warning.settings import WarningSettings

WARM_TIMEOUT_S = 90.0
WARM_UP_CUSTOMER = "warm-up"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WarmUp:
    """What makes one service warm: the consumer groups it runs (group id to the topics
    it reads) and the read it answers once warm."""

    groups: Mapping[str, Sequence[str]]
    request_path: str | None


def features_warm_up() -> WarmUp:
    settings = FeaturesSettings()
    return WarmUp({settings.app_id: [settings.topics(t) for t in EVENT_TOPICS.values()]}, None)


def scorer_warm_up() -> WarmUp:
    settings = ScorerSettings()
    groups: dict[str, list[str]] = {}
    if settings.stream_enabled:
        groups[settings.stream_group_id] = [settings.topics(Topic.FEATURE_UPDATES)]
    if settings.decision_copy_enabled:
        groups[settings.decision_copy_group_id] = [settings.topics(Topic.DECISIONS)]
    return WarmUp(groups, f"/v1/customers/{WARM_UP_CUSTOMER}/explanation")


def warning_warm_up() -> WarmUp:
    settings = WarningSettings()
    return WarmUp(
        {settings.group_id: [settings.topics(Topic.SCORES)]},
        f"/v1/customers/{WARM_UP_CUSTOMER}/risk",
    )


WARM_UPS: dict[str, Callable[[], WarmUp]] = {
    "features": features_warm_up,
    "scorer": scorer_warm_up,
    "warning": warning_warm_up,
}
"""Services with consumer groups or a warm-up read, by name; the others are warm once
their health path answers."""


async def unowned_partitions(
    settings: ServiceSettings, groups: Mapping[str, Sequence[str]]
) -> dict[str, int]:
    """For each group, how many partitions of its topics no member of it owns now (all
    of them while the group is still joining or rebalancing)."""
    partitions = await describe_topics(settings)
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    described = []
    try:
        # One group per request: aiokafka 0.14 misreads an answer describing several.
        for group in groups:
            described += await admin.describe_consumer_groups([group])
    except KafkaError:
        pass  # no coordinator yet (a fresh cluster creates its offsets topic on first use)
    finally:
        await admin.close()
    owned: dict[str, set[tuple[str, int]]] = {group: set() for group in groups}
    for response in described:
        for _, group, state, _, _, members, *_ in response.groups:
            if state != "Stable" or group not in owned:
                continue
            for member in members:
                assignment = MemberAssignment.decode(member[-1]) if member[-1] else None
                for topic, numbers in assignment.assignment if assignment else ():
                    owned[group].update((topic, number) for number in numbers)
    return {
        group: sum(
            1
            for topic in topics
            for number in range(partitions.get(topic, 0))
            if (topic, number) not in owned[group]
        )
        for group, topics in groups.items()
    }


def answered(port: int, path: str, api_key: str, timeout_s: float = 5.0) -> bool:
    """True when ``GET path`` answers below 500 (a 404 for the warm-up customer is an
    answer: the read went through authentication, the store and the model)."""
    request = urllib.request.Request(
        f"http://{LOCALHOST}:{port}{path}", headers={"Authorization": f"Bearer {api_key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s):  # noqa: S310
            return True
    except urllib.error.HTTPError as error:
        return int(error.code) < 500
    except (urllib.error.URLError, OSError):
        return False


def wait_warm(
    kafka_bootstrap: str,
    services: Collection[tuple[str, int]],
    timeout_s: float = WARM_TIMEOUT_S,
    api_key: str | None = None,
) -> None:
    """Returns once every consumer group of ``services`` (name and port) owns its
    partitions and each has answered its warm-up read; PlatformError after ``timeout_s``."""
    warm_ups = {name: WARM_UPS[name]() for name, _ in services if name in WARM_UPS}
    groups = {group: topics for w in warm_ups.values() for group, topics in w.groups.items()}
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap)
    if api_key is None:
        keys = settings.client_api_keys
        api_key = keys[0].get_secret_value() if keys else DEVELOPMENT_CLIENT_KEY
    deadline = time.monotonic() + timeout_s
    waiting: dict[str, int] = {}
    while groups:
        waiting = {
            group: unowned
            for group, unowned in run_coroutine(
                lambda: unowned_partitions(settings, groups)
            ).items()
            if unowned
        }
        if not waiting:
            break
        if time.monotonic() > deadline:
            raise PlatformError(f"consumer groups without all their partitions: {waiting}")
        time.sleep(0.5)
    for name, port in services:
        path = warm_ups[name].request_path if name in warm_ups else None
        while path is not None and not answered(port, path, api_key):
            if time.monotonic() > deadline:
                raise PlatformError(f"{name} did not answer its warm-up read {path}")
            time.sleep(0.5)
    log.info("warm: %d consumer groups own their partitions", len(groups))
