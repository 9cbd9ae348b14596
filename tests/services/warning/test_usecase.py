from collections.abc import Sequence
from datetime import timedelta

import pytest

from schemas.actions import CustomerRiskState
from services.warning.core import RuleSet, WarningState, load_default_rules
from services.warning.errors import (
    PublishUnavailableError,
    StateError,
    StoreRebuildingError,
    StoreUnavailableError,
)
from services.warning.usecase import WarningDesk
from tests.services.warning.warning_fakes import (
    MODEL_LIMIT,
    FakeKafka,
    FakeStore,
    RecordingObserver,
    score,
)
from tests.support.clock import SettableClock


class FixedRules:
    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules

    def current(self) -> RuleSet:
        return self.rules


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_default_rules()


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def kafka() -> FakeKafka:
    return FakeKafka()


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()


@pytest.fixture
def desk(
    rules: RuleSet,
    store: FakeStore,
    kafka: FakeKafka,
    clock: SettableClock,
    observer: RecordingObserver,
) -> WarningDesk:
    return WarningDesk(FixedRules(rules), store, kafka, kafka, kafka, clock, observer)


async def test_a_low_grade_score_publishes_actions_and_stores_the_state(
    desk: WarningDesk, store: FakeStore, kafka: FakeKafka, clock: SettableClock
) -> None:
    result = await desk.judge([score("c-1", clock.now(), "C")])
    assert [(a.rule_id, a.action) for a in result.actions] == [
        ("low_grade", "cut_limit"),
        ("low_grade", "notify"),
    ]
    assert kafka.actions == result.actions
    view = CustomerRiskState.model_validate_json(store.views["c-1"])
    assert view.status == "limited"
    assert view.credit_limit == MODEL_LIMIT * 0.5
    assert [a.severity for a in view.active_actions] == ["yellow", "yellow"]
    assert store.state("c-1").last_grade == "C"


async def test_a_redelivered_score_is_skipped_and_publishes_nothing(
    desk: WarningDesk, kafka: FakeKafka, clock: SettableClock, observer: RecordingObserver
) -> None:
    record = score("c-1", clock.now(), "D")
    first = await desk.judge([record])
    again = await desk.judge([record])
    assert first.actions
    assert again.actions == []
    assert again.duplicates == 1
    assert len(kafka.actions) == len(first.actions)
    assert observer.outcomes == {"evaluated": 1, "duplicate": 1, "rejected": 0}


async def test_a_crash_before_the_state_is_stored_yields_the_same_action_ids_again(
    desk: WarningDesk, store: FakeStore, kafka: FakeKafka, clock: SettableClock
) -> None:
    record = score("c-1", clock.now(), "D")
    original_save = store.save

    async def failing_save(states: object) -> None:
        raise StoreUnavailableError("redis down after publish")

    store.save = failing_save  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailableError):
        await desk.judge([record])
    published_first = [a.action_id for a in kafka.actions]
    store.save = original_save  # type: ignore[method-assign]
    await desk.judge([record])
    assert published_first
    assert [a.action_id for a in kafka.actions] == published_first * 2
    assert "c-1" in store.states


async def test_nothing_is_stored_when_kafka_does_not_acknowledge(
    desk: WarningDesk, store: FakeStore, kafka: FakeKafka, clock: SettableClock
) -> None:
    kafka.available = False
    with pytest.raises(PublishUnavailableError):
        await desk.judge([score("c-1", clock.now(), "D")])
    assert store.states == {}


async def test_every_stored_state_is_in_the_state_log_before_redis_has_it(
    desk: WarningDesk, store: FakeStore, kafka: FakeKafka, clock: SettableClock
) -> None:
    order: list[str] = []
    original_append, original_save = kafka.append, store.save

    async def append(states: Sequence[WarningState]) -> None:
        order.append("log")
        await original_append(states)

    async def save(states: Sequence[WarningState]) -> None:
        order.append("redis")
        await original_save(states)

    kafka.append = append  # type: ignore[method-assign]
    store.save = save  # type: ignore[method-assign]
    await desk.judge([score("c-1", clock.now(), "D")])
    await desk.override("c-2", "freeze_credit", "fraud report", "ops")

    assert order == ["log", "redis", "log", "redis"]
    assert [s.customer_id for s in kafka.logged] == ["c-1", "c-2"]
    assert {state.customer_id: state.to_json() for state in kafka.logged} == store.states


async def test_redis_keeps_the_old_state_when_the_state_log_does_not_acknowledge(
    desk: WarningDesk, store: FakeStore, kafka: FakeKafka, clock: SettableClock
) -> None:
    await desk.judge([score("c-1", clock.now(), "A")])
    before = dict(store.states)

    async def refused(states: Sequence[WarningState]) -> None:
        raise PublishUnavailableError("warning.state not acknowledged")

    kafka.append = refused  # type: ignore[method-assign]
    with pytest.raises(PublishUnavailableError):
        await desk.judge([score("c-1", clock.now(), "D")])
    assert store.states == before


async def test_nothing_is_judged_or_overridden_while_redis_lacks_its_epoch(
    desk: WarningDesk, store: FakeStore, kafka: FakeKafka, clock: SettableClock
) -> None:
    store.complete = False
    with pytest.raises(StoreRebuildingError):
        await desk.judge([score("c-1", clock.now(), "D")])
    with pytest.raises(StoreRebuildingError):
        await desk.override("c-1", "freeze_credit", "fraud report", "ops")
    with pytest.raises(StoreRebuildingError):
        await desk.risk_state("c-1")
    assert kafka.actions == []
    assert store.states == {}


async def test_a_restore_rewrites_every_logged_state_paced_in_batches(
    desk: WarningDesk,
    store: FakeStore,
    kafka: FakeKafka,
    clock: SettableClock,
    observer: RecordingObserver,
) -> None:
    await desk.judge([score(f"c-{n}", clock.now(), "D") for n in range(5)])
    await desk.override("c-0", "suspend_account", "fraud report", "ops")
    before = dict(store.states)
    store.states.clear()
    store.views.clear()
    paced: list[int] = []

    async def pace(units: int) -> None:
        paced.append(units)

    assert await desk.restore({0}, kafka, pace, batch=2)

    assert store.states == before
    assert store.state("c-0").status == "suspended"
    assert paced == [2, 2, 1]
    assert observer.restored_states == 5


async def test_scores_wait_while_a_restore_runs(
    desk: WarningDesk, store: FakeStore, kafka: FakeKafka, clock: SettableClock
) -> None:
    await desk.judge([score("c-1", clock.now(), "D")])
    refused: list[type[Exception]] = []

    async def pace(units: int) -> None:
        try:
            await desk.judge([score("c-1", clock.now(), "A")])
        except StoreRebuildingError as error:
            refused.append(type(error))

    assert await desk.restore({0}, kafka, pace, batch=10)
    assert refused == [StoreRebuildingError]
    # Once restored, scores are judged again.
    result = await desk.judge([score("c-1", clock.now(), "A")])
    assert result.evaluated == 1


async def test_scores_of_one_customer_in_a_batch_see_each_others_state(
    desk: WarningDesk, store: FakeStore, clock: SettableClock
) -> None:
    start = clock.now()
    later = start + timedelta(hours=1)
    result = await desk.judge(
        [score("c-1", start, "C"), score("c-2", start, "A"), score("c-1", later, "C")]
    )
    assert [a.action for a in result.actions] == ["cut_limit", "notify"]
    assert result.evaluated == 3
    assert store.state("c-1").version == 2
    assert store.saves == 1


async def test_an_unreadable_stored_state_rejects_only_that_customers_scores(
    desk: WarningDesk, store: FakeStore, clock: SettableClock
) -> None:
    store.states["c-1"] = b'{"not": "a state"}'
    result = await desk.judge([score("c-1", clock.now(), "D"), score("c-2", clock.now(), "D")])
    assert [(r.index, r.reason) for r in result.rejections] == [(0, "state_unreadable")]
    assert {a.customer_id for a in result.actions} == {"c-2"}


async def test_an_override_is_published_audited_and_stored(
    desk: WarningDesk, store: FakeStore, kafka: FakeKafka, clock: SettableClock
) -> None:
    await desk.judge([score("c-1", clock.now(), "D")])
    clock.advance(1)
    result = await desk.override("c-1", "unfreeze_credit", "reviewed by phone", "admin:1a2b3c4d")
    assert result.action.action == "unfreeze_credit"
    assert result.action.rule_id == "manual-override"
    assert kafka.actions[-1] == result.action
    (audit,) = kafka.audits
    assert (audit.operation, audit.subject, audit.actor) == ("override", "c-1", "admin:1a2b3c4d")
    assert audit.reason == "reviewed by phone"
    assert audit.details["action_id"] == result.action.action_id
    assert result.state.status == "limited"
    assert store.state("c-1").status == "limited"


async def test_an_override_on_an_unseen_customer_starts_from_the_default_state(
    desk: WarningDesk, store: FakeStore
) -> None:
    result = await desk.override("new-1", "freeze_credit", "fraud report", "admin:1a2b3c4d")
    assert result.state.status == "frozen"
    assert store.state("new-1").status == "frozen"


async def test_an_override_with_nothing_to_reverse_is_refused_and_changes_nothing(
    desk: WarningDesk, store: FakeStore, kafka: FakeKafka
) -> None:
    with pytest.raises(StateError, match="nothing to unfreeze_credit"):
        await desk.override("c-9", "unfreeze_credit", "why not", "admin:1a2b3c4d")
    assert kafka.actions == []
    assert kafka.audits == []
    assert store.states == {}


async def test_the_risk_state_of_an_unseen_customer_is_the_default_active_state(
    desk: WarningDesk,
) -> None:
    state = await desk.risk_state("never-seen")
    assert state == CustomerRiskState(customer_id="never-seen")


async def test_the_risk_state_lists_prepayment_and_reasons(
    desk: WarningDesk, clock: SettableClock
) -> None:
    await desk.judge([score("c-1", clock.now(), "A", payments_failed_24h=3)])
    state = await desk.risk_state("c-1")
    assert state.prepayment_required is True
    assert state.status == "limited"
    assert state.active_actions[0].action == "require_prepayment"
    assert "Three or more failed payments" in state.active_actions[0].reason
