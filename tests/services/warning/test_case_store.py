"""The review-case index in the real Redis: written with the states it derives from, so
the queue lists exactly the cases waiting, oldest first."""

from datetime import UTC, datetime, timedelta

import pytest

from services.common.redis_client import make_redis
from services.common.redis_keys import RedisKeys
from services.common.settings import ServiceSettings
from services.warning.core import decide_case, evaluate, load_default_rules
from services.warning.store import RedisStateStore
from tests.services.warning.warning_fakes import score

pytestmark = pytest.mark.integration
RULES = load_default_rules()
AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


async def test_the_queue_index_follows_the_states(service_settings: ServiceSettings) -> None:
    redis = make_redis(service_settings, timeout_ms=2000)
    store = RedisStateStore(
        redis, RedisKeys(service_settings.redis_key_prefix), service_settings.event_partitions
    )
    try:
        older = evaluate(RULES, None, score("c-1", AT, "B", chargebacks_90d=1.0), AT).state
        later = AT + timedelta(hours=1)
        newer = evaluate(RULES, None, score("c-2", later, "B", chargebacks_90d=1.0), later).state
        await store.save([newer, older])
        (first,) = older.cases
        (second,) = newer.cases

        assert await store.open_case_ids(10) == [first.case_id, second.case_id]
        assert await store.case_owners([second.case_id, "nope"]) == {second.case_id: "c-2"}
        assert await store.queue_stats() == (2, AT.timestamp())

        decided = decide_case(older, first.case_id, "confirm", "ana", "analyst", "ok", later)
        await store.save([decided.state])

        assert await store.open_case_ids(10) == [second.case_id]
        assert await store.case_owners([first.case_id]) == {first.case_id: "c-1"}
    finally:
        await redis.aclose()
