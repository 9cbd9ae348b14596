"""Adverse-action notices on the session's real Kafka and Redis: feature updates carrying
the customer's language go through the stream scorer (which adds the model's
counterfactuals) and the warning service, and every action that restricts credit reaches
the order system with a notice in that language, which the reference consumer delivers."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deploy.harness import ServiceProcess
from examples.order_system_consumer import OrderAccounts, OutgoingNotice, consume
from schemas.actions import RESTRICTING_ACTIONS, RiskAction
from schemas.features import FEATURE_SCHEMA, FeatureUpdate
from schemas.scores import ScoreRecord
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from services.features.core import compute_features
from tests.services.scorer.scorer_bundles import build_bundle, customer_state
from tests.support.polling import wait_until_async
from tests.support.streams import produce, read_topic_until

pytestmark = pytest.mark.integration

CUSTOMERS = {"n-en": "en-GB", "n-zh": "zh-CN", "n-unset": None}
"""Customer to the locale their events give; without one, notices default to zh-CN."""
HAN = re.compile(r"[\u4e00-\u9fff]")


def update(customer_id: str, locale: str | None, now: datetime) -> FeatureUpdate:
    """A feature update after three failed payments: grade D under the test bundle."""
    return FeatureUpdate(
        customer_id=customer_id,
        feature_schema_version=FEATURE_SCHEMA.version,
        as_of=now,
        features=compute_features(customer_state(customer_id, now, failed_payments=3), now),
        triggered_by=f"{customer_id}-event",
        trigger_event_type="payment",
        event_occurred_at=now,
        locale=locale,
    )


async def test_every_restricting_action_carries_a_notice_in_the_customers_language(
    start_service: Callable[..., ServiceProcess],
    service_settings: ServiceSettings,
    tmp_path: Path,
) -> None:
    bundle = build_bundle(tmp_path / "bundle", "v1", bias=-3.0)
    await asyncio.to_thread(
        start_service,
        "scorer",
        RISKSTREAM_MODEL_REGISTRY_DIR=str(tmp_path / "registry"),
        RISKSTREAM_DEFAULT_BUNDLE=str(bundle),
        RISKSTREAM_DECISION_COPY_ENABLED="false",
    )
    await asyncio.to_thread(start_service, "warning")
    now = datetime.now(UTC)
    topic = service_settings.topics(Topic.FEATURE_UPDATES)
    await produce(
        service_settings,
        [
            (topic, customer.encode(), update(customer, locale, now).model_dump_json().encode())
            for customer, locale in CUSTOMERS.items()
        ],
    )
    accounts = OrderAccounts(tmp_path / "orders.sqlite")
    delivered: list[OutgoingNotice] = []
    stop = asyncio.Event()
    order_system = asyncio.create_task(
        consume(
            service_settings,
            accounts,
            f"{service_settings.topic_prefix}orders",
            lambda _: None,
            stop,
            delivered.append,
        )
    )

    def restricting(values: list[bytes]) -> list[RiskAction]:
        actions = [RiskAction.model_validate_json(v) for v in values]
        return [a for a in actions if a.action in RESTRICTING_ACTIONS]

    actions = restricting(
        await read_topic_until(
            service_settings,
            Topic.ACTIONS,
            lambda values: {a.customer_id for a in restricting(values)} == set(CUSTOMERS),
        )
    )
    scores = {
        record.score_id: record
        for record in map(
            ScoreRecord.model_validate_json,
            await read_topic_until(service_settings, Topic.SCORES, lambda v: len(v) >= 3),
        )
    }
    await wait_until_async(
        lambda: len(delivered) >= len(actions), 30.0, "the order system delivering notices"
    )
    stop.set()
    await order_system
    unsent = accounts.unsent_notices()
    accounts.close()

    assert {a.action for a in actions} >= {"freeze_credit", "cut_limit", "require_prepayment"}
    for action in actions:
        notice = action.notice
        assert notice is not None, action
        expected = "en" if action.customer_id == "n-en" else "zh-CN"
        assert notice.locale == expected
        assert notice.reasons
        assert all(reason.text for reason in notice.reasons)
        assert notice.appeal_reference == action.action_id
        assert action.action_id in notice.appeal
        assert action.action_id in notice.body
        assert bool(HAN.search(notice.body)) == (expected == "zh-CN")
        assert notice.improvement is not None
        assert notice.improvement.lifts_restriction
        assert action.decision_id in scores
        score = scores[action.decision_id]
        assert score.improvements
        assert score.locale == CUSTOMERS[action.customer_id]
    english = next(a.notice for a in actions if a.customer_id == "n-en" and a.notice)
    assert "failed" in english.body
    assert "appeal" in english.body
    assert not unsent
    assert sorted(n.action_id for n in delivered) == sorted(a.action_id for a in actions)
    assert {n.locale for n in delivered} == {"en", "zh-CN"}
