"""The scoring use case with fake store, models and clock (no Redis, no Kafka)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from riskmodel.loading import LoadedModel, open_bundle
from schemas.actions import CustomerRiskState
from schemas.codecs import decode_feature_update
from schemas.events import parse_event
from schemas.features import FEATURE_SCHEMA, FeatureUpdate, to_model_row
from schemas.scores import ScoreRequest, ScoreResponse
from services.features.core import (
    FeatureVector,
    apply_event,
    compute_features,
    feature_vector,
    to_us,
)
from services.scorer.core import (
    FallbackPolicy,
    FloatMatrix,
    ThinFileDefault,
    improvements,
    improvements_of,
    score_id_of,
    score_record,
    score_record_bytes,
    score_rows,
)
from services.scorer.errors import StoreUnavailableError
from services.scorer.ports import StoredCustomer, StoreRead
from services.scorer.usecase import Budgets, Scorer
from tests.services.scorer.scorer_bundles import build_bundle, customer_state, probability
from tests.support.clock import SettableClock

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class FakeStore:
    """``complete`` is False while the writers' epoch keys are missing (a rebuild)."""

    def __init__(self) -> None:
        self.records: dict[str, StoredCustomer] = {}
        self.calls: list[list[str]] = []
        self.failure: Exception | None = None
        self.delay_s = 0.0
        self.complete = True

    async def fetch(self, customer_ids: Sequence[str]) -> StoreRead:
        self.calls.append(list(customer_ids))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.failure is not None:
            raise self.failure
        return StoreRead(
            self.complete, [self.records.get(c, StoredCustomer(None, None)) for c in customer_ids]
        )


class FakeModels:
    def __init__(self, champion: object | None, challenger: object | None = None) -> None:
        self._champion = champion
        self._challenger = challenger

    def champion(self) -> object | None:
        return self._champion

    def challenger(self) -> object | None:
        return self._challenger


class FailingModel:
    """Wraps a real model; its inference raises or sleeps."""

    def __init__(self, model: LoadedModel, *, fail: bool = False, sleep_s: float = 0.0) -> None:
        self._model = model
        self._fail = fail
        self._sleep_s = sleep_s
        self.manifest = model.manifest
        self.version = model.version

    def probabilities(self, rows: FloatMatrix) -> FloatMatrix:
        if self._fail:
            raise RuntimeError("session broke")
        time.sleep(self._sleep_s)
        return self._model.probabilities(rows)

    def contributions(self, rows: FloatMatrix) -> FloatMatrix:
        return self._model.contributions(rows)


class RecordingObserver:
    def __init__(self) -> None:
        self.stages: list[str] = []
        self.answers: list[tuple[str, str, str]] = []
        self.fallbacks: list[str] = []
        self.divergences: list[tuple[str, str, float]] = []
        self.shadow_failures: list[str] = []

    def stage(self, stage: str, seconds: float) -> None:
        assert seconds >= 0
        self.stages.append(stage)

    def answered(self, model_version: str, grade: str, decision: str) -> None:
        self.answers.append((model_version, grade, decision))

    def fallback(self, reason: str) -> None:
        self.fallbacks.append(reason)

    def divergence(self, champion: str, challenger: str, points: float) -> None:
        self.divergences.append((champion, challenger, points))

    def shadow_failed(self, challenger: str) -> None:
        self.shadow_failures.append(challenger)


FALLBACK = FallbackPolicy(
    credit_decision="review",
    other_decision="approve",
    grade="C",
    risk_level="yellow",
    score=560,
    probability_of_default=0.1,
    credit_limit=0.0,
)
BUDGETS = Budgets(redis_s=0.05, model_s=0.05, inline_rows=4, features_max_age=timedelta(days=30))


@pytest.fixture(scope="module")
def model_v1(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    path = build_bundle(tmp_path_factory.mktemp("b") / "v1", "v1", bias=-3.0)
    return open_bundle(path, FEATURE_SCHEMA)


@pytest.fixture(scope="module")
def model_v2(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    path = build_bundle(tmp_path_factory.mktemp("b") / "v2", "v2", bias=-2.0)
    return open_bundle(path, FEATURE_SCHEMA)


def scorer_for(
    store: FakeStore,
    champion: object | None,
    observer: RecordingObserver | None = None,
    challenger: object | None = None,
    budgets: Budgets = BUDGETS,
) -> Scorer:
    return Scorer(
        store,
        FakeModels(champion, challenger),  # type: ignore[arg-type]
        SettableClock(NOW),
        observer or RecordingObserver(),
        budgets,
        FALLBACK,
        ThinFileDefault(probability_of_default=0.08, grade="C", credit_limit=0.0),
    )


def request(customer_id: str, amount: float | None = None, method: str = "bnpl") -> ScoreRequest:
    body: dict[str, object] = {"customer_id": customer_id}
    if amount is not None:
        body["order"] = {"amount": amount, "currency": "CNY", "payment_method": method}
    return ScoreRequest.model_validate(body)


def store_customer(
    store: FakeStore,
    customer_id: str,
    failed_payments: int = 0,
    risk: CustomerRiskState | None = None,
    at: datetime = NOW,
) -> None:
    state = customer_state(customer_id, at, failed_payments=failed_payments)
    store.records[customer_id] = StoredCustomer(
        state.to_bytes(), risk.model_dump_json().encode() if risk else None
    )


async def test_known_customer_is_scored_by_the_model_with_every_contract_field(
    model_v1: LoadedModel,
) -> None:
    store = FakeStore()
    store_customer(store, "c1", failed_payments=2)
    observer = RecordingObserver()

    (answer,) = await scorer_for(store, model_v1, observer).score([request("c1", 50.0)])

    ScoreResponse.model_validate(answer)  # every field present and in range
    features = compute_features(customer_state("c1", NOW, failed_payments=2), NOW)
    assert answer["probability_of_default"] == pytest.approx(probability(-3.0, features), 1e-5)
    assert answer["model_version"] == "v1"
    assert answer["features_as_of"] == NOW.isoformat()
    assert answer["fallback"] is False
    assert answer["fallback_reason"] is None
    assert answer["thin_file"] is False
    assert answer["reasons"][0]["feature"] == "payments_failed_30d"
    assert answer["reasons"][0]["impact"] > 0
    assert answer["available_credit"] == answer["credit_limit"] - features["credit_outstanding"]
    assert store.calls == [["c1"]]
    assert observer.stages == ["redis", "features", "inference", "reasons"]
    assert observer.answers == [("v1", answer["grade"], answer["decision"])]


async def test_riskier_features_give_a_lower_score(model_v1: LoadedModel) -> None:
    store = FakeStore()
    store_customer(store, "good", failed_payments=0)
    store_customer(store, "bad", failed_payments=4)

    good, bad = await scorer_for(store, model_v1).score([request("good"), request("bad")])

    assert bad["score"] < good["score"]
    assert bad["probability_of_default"] > good["probability_of_default"]


async def test_unknown_customer_gets_the_thin_file_policy_not_a_fallback(
    model_v1: LoadedModel,
) -> None:
    (answer,) = await scorer_for(FakeStore(), model_v1).score([request("new", 10.0, "card")])

    assert answer["fallback"] is False
    assert answer["grade"] == "C"
    assert answer["probability_of_default"] == 0.08
    assert answer["features_as_of"] is None
    assert answer["thin_file"] is True
    assert [r["code"] for r in answer["reasons"]] == ["R_NO_HISTORY"]
    assert answer["decision"] == "approve"  # paid now, grade C


def store_onboarded(store: FakeStore, customer_id: str, at: datetime) -> None:
    """A customer whose only event is a passed phone check at ``at``."""
    state = customer_state(customer_id, at, orders=0)
    verification = {
        "event_id": f"{customer_id}-v1",
        "event_type": "verification",
        "customer_id": customer_id,
        "occurred_at": at.isoformat(),
        "kind": "phone",
        "result": "passed",
        "provider": "kyc",
    }
    apply_event(state, parse_event(verification, now=at), at)
    store.records[customer_id] = StoredCustomer(state.to_bytes(), None)


async def test_a_customer_known_only_from_onboarding_is_judged_by_the_model_as_a_thin_file(
    model_v1: LoadedModel,
) -> None:
    store = FakeStore()
    store_onboarded(store, "new", NOW)
    # Onboarding data does not go stale: registered long ago, buying for the first time now.
    store_onboarded(store, "returning", NOW - timedelta(days=100))

    new, returning = await scorer_for(store, model_v1).score([request("new"), request("returning")])

    for answer in (new, returning):
        ScoreResponse.model_validate(answer)
        assert (answer["fallback"], answer["thin_file"]) == (False, True)
        assert answer["features_as_of"] == NOW.isoformat()
        assert "R_NO_HISTORY" not in [r["code"] for r in answer["reasons"]]


async def test_thin_file_policy_of_the_bundle_wins_over_the_default(tmp_path: Path) -> None:
    path = build_bundle(
        tmp_path / "t",
        "thin",
        thin_file={"probability_of_default": 0.02, "grade": "B", "credit_limit": 800},
    )
    model = open_bundle(path, FEATURE_SCHEMA)

    (answer,) = await scorer_for(FakeStore(), model).score([request("new", 500.0)])

    assert (answer["grade"], answer["credit_limit"], answer["decision"]) == ("B", 800, "approve")


@pytest.mark.parametrize(
    ("status", "method", "expected"),
    [
        ("frozen", "bnpl", "prepay"),
        ("frozen", "instalment", "prepay"),
        ("suspended", "bnpl", "decline"),
        ("suspended", "card", "decline"),
        ("frozen", "card", "approve"),
    ],
)
async def test_frozen_or_suspended_customer_is_never_approved_on_credit(
    model_v1: LoadedModel, status: str, method: str, expected: str
) -> None:
    store = FakeStore()
    risk = CustomerRiskState(customer_id="c1", status=status)  # type: ignore[arg-type]
    store_customer(store, "c1", risk=risk)

    (answer,) = await scorer_for(store, model_v1).score([request("c1", 10.0, method)])

    assert answer["fallback"] is False
    assert answer["decision"] == expected


async def test_while_the_store_is_rebuilding_nobody_gets_the_model_or_the_thin_file_policy(
    model_v1: LoadedModel,
) -> None:
    store = FakeStore()
    store.complete = False
    store_customer(store, "known")
    store_customer(store, "held", risk=CustomerRiskState(customer_id="held", status="suspended"))
    observer = RecordingObserver()
    requests = [request("lost-or-new", 10.0), request("known", 10.0), request("held", 10.0)]

    answers = await scorer_for(store, model_v1, observer).score(requests)

    assert [(a["fallback"], a["fallback_reason"]) for a in answers] == [
        (True, "store_rebuilding")
    ] * 3
    # A customer without keys may have lost them: the thin-file approval is never given.
    assert [a["decision"] for a in answers] == ["review", "review", "decline"]
    assert all(a["reasons"] == [] and a["features_as_of"] is None for a in answers)
    assert observer.fallbacks == ["store_rebuilding"] * 3
    assert "inference" not in observer.stages


async def test_once_the_store_is_whole_again_the_model_answers(model_v1: LoadedModel) -> None:
    store = FakeStore()
    store_customer(store, "c1")
    store.complete = False
    scorer = scorer_for(store, model_v1)
    (during,) = await scorer.score([request("c1", 10.0)])
    store.complete = True

    (after,) = await scorer.score([request("c1", 10.0)])

    assert during["fallback_reason"] == "store_rebuilding"
    assert (after["fallback"], after["fallback_reason"]) == (False, None)


async def test_warning_imposed_limit_caps_the_model_limit(model_v1: LoadedModel) -> None:
    store = FakeStore()
    store_customer(store, "c1", risk=CustomerRiskState(customer_id="c1", credit_limit=150.0))

    (answer,) = await scorer_for(store, model_v1).score([request("c1", 120.0)])

    assert answer["credit_limit"] == 150.0
    assert answer["available_credit"] == 150.0  # card orders draw no credit
    assert answer["decision"] == "approve"  # 120 fits within the capped 150


async def test_redis_failure_answers_the_fallback_for_every_request(
    model_v1: LoadedModel,
) -> None:
    store = FakeStore()
    store.failure = StoreUnavailableError("connection refused")
    observer = RecordingObserver()

    answers = await scorer_for(store, model_v1, observer).score(
        [request("a", 10.0, "bnpl"), request("b", 10.0, "card"), request("c")]
    )

    assert [a["fallback_reason"] for a in answers] == ["redis_unavailable"] * 3
    assert [a["decision"] for a in answers] == ["review", "approve", "review"]
    assert all(a["model_version"] == "v1" and a["credit_limit"] == 0 for a in answers)
    assert observer.fallbacks == ["redis_unavailable"] * 3
    for answer in answers:
        ScoreResponse.model_validate(answer)


async def test_slow_redis_is_abandoned_at_its_budget(model_v1: LoadedModel) -> None:
    store = FakeStore()
    store.delay_s = 5.0
    started = time.perf_counter()

    (answer,) = await scorer_for(store, model_v1).score([request("a")])

    assert time.perf_counter() - started < 1.0
    assert answer["fallback_reason"] == "redis_unavailable"


async def test_no_model_answers_model_unavailable_but_honours_a_suspension() -> None:
    store = FakeStore()
    store_customer(store, "s", risk=CustomerRiskState(customer_id="s", status="suspended"))

    suspended, unknown = await scorer_for(store, None).score(
        [request("s", 10.0, "card"), request("u", 10.0, "card")]
    )

    assert suspended["fallback_reason"] == unknown["fallback_reason"] == "model_unavailable"
    assert suspended["model_version"] == "none"
    assert (suspended["decision"], unknown["decision"]) == ("decline", "approve")


def with_vector(
    customer_id: str, at: datetime, made_at: datetime, state_bytes: bytes | None = None
) -> StoredCustomer:
    """A customer with two failed payments at ``at``, stored with the vector the worker
    would make at ``made_at`` (and ``state_bytes`` instead of the state, when given: a
    state the scorer cannot read shows which of the two it used)."""
    state = customer_state(customer_id, at, failed_payments=2)
    vector = feature_vector(state, to_us(made_at))
    assert vector is not None
    return StoredCustomer(
        state.to_bytes() if state_bytes is None else state_bytes, None, vector.to_bytes()
    )


def judged(answer: dict[str, object]) -> tuple[object, ...]:
    """What an answer says of the customer (not its decision id)."""
    return tuple(answer[field] for field in ("score", "probability_of_default", "reasons"))


async def test_an_exact_stored_vector_is_read_and_gives_the_answer_of_the_state(
    model_v1: LoadedModel,
) -> None:
    store = FakeStore()
    at, made_at = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
    store.records["vector"] = with_vector("vector", at, made_at)
    store.records["vector-only"] = with_vector("vector-only", at, made_at, b"{not a state")
    state = customer_state("state", at, failed_payments=2)
    store.records["state"] = StoredCustomer(state.to_bytes(), None)

    vector, vector_only, from_state = await scorer_for(store, model_v1).score(
        [request("vector"), request("vector-only"), request("state")]
    )

    assert vector_only["fallback"] is False  # the unreadable state was not needed
    assert judged(vector) == judged(vector_only) == judged(from_state)
    assert from_state["fallback"] is False
    assert from_state["features_as_of"] == vector["features_as_of"] == NOW.isoformat()


async def test_a_vector_expired_made_later_or_of_another_schema_is_not_read(
    model_v1: LoadedModel,
) -> None:
    store = FakeStore()
    unreadable = b"{not a state"
    # Orders 23 hours ago leave the 1h window 22 hours ago: that vector expired then.
    at = NOW - timedelta(hours=23)
    store.records["expired"] = with_vector("expired", at, at, unreadable)
    store.records["later"] = with_vector("later", at, NOW + timedelta(seconds=1), unreadable)
    current = with_vector("foreign", at, NOW - timedelta(hours=1), unreadable)
    assert current.feature_vector is not None
    made = FeatureVector.from_bytes(current.feature_vector)
    assert made is not None
    assert made.covers(to_us(NOW))
    foreign = FeatureVector(
        made.schema_version + 1,
        made.as_of_us,
        made.valid_until_us,
        made.clock_us,
        made.first_event_us,
        made.values,
        made.counters,
    )
    store.records["foreign"] = StoredCustomer(unreadable, None, foreign.to_bytes())
    store.records["malformed"] = StoredCustomer(unreadable, None, b"[1, 2")
    expired_state = customer_state("expired-state", at, failed_payments=2)
    store.records["expired-state"] = with_vector("expired-state", at, at)

    answers = await scorer_for(store, model_v1).score(
        [request(c) for c in ("expired", "later", "foreign", "malformed", "expired-state")]
    )

    for answer in answers[:4]:
        assert answer["fallback_reason"] == "features_unreadable"
    # Past its vector's span the customer is scored from the state, as without a vector.
    expected = compute_features(expired_state, NOW)
    assert answers[4]["fallback"] is False
    assert answers[4]["probability_of_default"] == pytest.approx(probability(-3.0, expected), 1e-5)


async def test_a_stale_customer_is_stale_through_the_vector_too(model_v1: LoadedModel) -> None:
    store = FakeStore()
    at = NOW - timedelta(days=31)
    store.records["old"] = with_vector("old", at, NOW - timedelta(seconds=1), b"{not a state")

    (old,) = await scorer_for(store, model_v1).score([request("old")])

    assert old["fallback_reason"] == "features_stale"


async def test_stale_features_answer_features_stale(model_v1: LoadedModel) -> None:
    store = FakeStore()
    store_customer(store, "old", failed_payments=1, at=NOW - timedelta(days=31))
    store_customer(store, "fresh", failed_payments=1, at=NOW - timedelta(days=29))

    old, fresh = await scorer_for(store, model_v1).score([request("old"), request("fresh")])

    assert old["fallback_reason"] == "features_stale"
    assert fresh["fallback"] is False


async def test_corrupt_state_answers_features_unreadable(model_v1: LoadedModel) -> None:
    store = FakeStore()
    store.records["x"] = StoredCustomer(b"{not json", None)
    store.records["y"] = StoredCustomer(None, b'{"customer_id": "y", "status": "melted"}')

    x, y = await scorer_for(store, model_v1).score([request("x"), request("y")])

    assert x["fallback_reason"] == y["fallback_reason"] == "features_unreadable"


async def test_inference_error_falls_back_for_the_model_rows_only(
    model_v1: LoadedModel,
) -> None:
    store = FakeStore()
    store_customer(store, "known")

    known, unknown = await scorer_for(store, FailingModel(model_v1, fail=True)).score(
        [request("known"), request("unknown")]
    )

    assert known["fallback_reason"] == "inference_error"
    assert unknown["fallback"] is False  # the thin-file policy needs no model run


async def test_large_batch_over_the_model_budget_answers_inference_timeout(
    model_v1: LoadedModel,
) -> None:
    store = FakeStore()
    ids = [f"c{i}" for i in range(BUDGETS.inline_rows + 1)]
    for customer_id in ids:
        store_customer(store, customer_id)
    slow = FailingModel(model_v1, sleep_s=0.3)

    answers = await scorer_for(store, slow).score([request(c) for c in ids])

    assert {a["fallback_reason"] for a in answers} == {"inference_timeout"}


async def test_batch_answers_in_request_order_with_one_store_round_trip(
    model_v1: LoadedModel,
) -> None:
    store = FakeStore()
    ids = [f"c{i}" for i in range(10)]
    for i, customer_id in enumerate(ids[::2]):
        store_customer(store, customer_id, failed_payments=i)

    answers = await scorer_for(store, model_v1).score([request(c) for c in ids])

    assert [a["customer_id"] for a in answers] == ids
    assert len(store.calls) == 1
    assert [a["features_as_of"] is None for a in answers] == [False, True] * 5


async def test_shadow_challenger_is_measured_and_never_decides(
    model_v1: LoadedModel, model_v2: LoadedModel
) -> None:
    store = FakeStore()
    store_customer(store, "c1", failed_payments=1)
    observer = RecordingObserver()
    scorer = scorer_for(store, model_v1, observer, challenger=model_v2)

    (answer,) = await scorer.score([request("c1")])
    await asyncio.sleep(0.01)  # the shadow run follows the answer

    (alone,) = await scorer_for(store, model_v1).score([request("c1")])
    assert answer["decision_id"] != alone["decision_id"]  # each answer is a decision of its own
    assert {**answer, "decision_id": None} == {**alone, "decision_id": None}
    ((champion, challenger, points),) = observer.divergences
    assert (champion, challenger) == ("v1", "v2")
    assert points > 0


def test_score_rows_marks_a_nan_output_unscorable(model_v1: LoadedModel) -> None:
    class NanModel(FailingModel):
        def probabilities(self, rows: FloatMatrix) -> FloatMatrix:
            return np.array([math.nan, 0.5])

    rows = np.zeros((2, len(model_v1.manifest.feature_names)))
    first, second = score_rows(NanModel(model_v1), rows)  # type: ignore[arg-type]

    assert first is None
    assert second is not None
    assert second.assessment.probability_of_default == 0.5


def test_score_rows_gives_every_row_of_a_batch_its_verdict_alone(model_v1: LoadedModel) -> None:
    states = [customer_state(f"c{n}", NOW, failed_payments=n % 4, orders=n % 3) for n in range(9)]
    rows = np.array(
        [
            [math.nan if v is None else v for v in compute_features(state, NOW).values()]
            for state in states
        ]
    )
    names = model_v1.manifest.feature_names
    rows[0, names.index("days_since_first_event")] = math.nan  # a thin file
    rows[1, names.index("payments_failed_30d")] = math.nan

    verdicts = score_rows(model_v1, rows)

    assert verdicts == [score_rows(model_v1, rows[i : i + 1])[0] for i in range(len(rows))]
    assert any(verdict is not None and verdict.reasons for verdict in verdicts)
    assert any(verdict is not None and verdict.assessment.thin_file for verdict in verdicts)


def test_every_improvement_states_the_score_its_changed_row_gets(model_v1: LoadedModel) -> None:
    states = [customer_state(f"c{n}", NOW, failed_payments=2 + n, orders=n) for n in range(4)]
    features = [compute_features(state, NOW) for state in states]

    searched = improvements_of(model_v1, [(row, ["C", "B", "A", "S"]) for row in features])

    assert any(searched)
    for row, found in zip(features, searched, strict=True):
        for improvement in found:
            changed = {**row, **{c.feature: c.changed for c in improvement.changes}}
            (verdict,) = score_rows(model_v1, np.array([to_model_row(changed)]))
            assert verdict is not None
            assert (verdict.assessment.score, verdict.assessment.grade) == (
                improvement.score,
                improvement.grade,
            )


def test_streamed_score_id_is_stable_per_trigger_and_model(model_v1: LoadedModel) -> None:
    features = compute_features(customer_state("c1", NOW, failed_payments=1), NOW)
    update = FeatureUpdate(
        customer_id="c1",
        feature_schema_version=1,
        as_of=NOW,
        features=features,
        triggered_by="e-1",
        trigger_event_type="payment",
        event_occurred_at=NOW,
    )
    rows = np.array([[math.nan if v is None else v for v in features.values()]])
    (verdict,) = score_rows(model_v1, rows)
    assert verdict is not None

    record = score_record(update, verdict, "v1", NOW)

    assert (
        record.score_id
        == score_id_of("e-1", "v1")
        == score_record(update, verdict, "v1", NOW).score_id
    )
    assert record.score_id != score_id_of("e-1", "v2")
    assert record.score_id != score_id_of("e-2", "v1")
    assert (record.model_version, record.features_as_of, record.triggered_by) == ("v1", NOW, "e-1")
    assert record.reasons == verdict.reasons


def test_a_streamed_record_is_the_contracts_json_with_the_searches_of_a_batch(
    model_v1: LoadedModel,
) -> None:
    histories = [
        customer_state(f"c{n}", NOW, failed_payments=n, orders=1 + n % 3) for n in range(6)
    ]
    updates = [
        FeatureUpdate(
            customer_id=state.customer_id,
            feature_schema_version=1,
            as_of=NOW,
            features=compute_features(state, NOW),
            triggered_by=f"e-{state.customer_id}",
            trigger_event_type="payment",
            event_occurred_at=NOW - timedelta(seconds=2),
            locale="de",
        )
        for state in histories
    ]
    rows = np.array([[math.nan if v is None else v for v in u.features.values()] for u in updates])
    verdicts = score_rows(model_v1, rows)
    searched = improvements_of(model_v1, [(u.features, ["A", "B"]) for u in updates])

    assert searched == [improvements(model_v1, u.features, ["A", "B"]) for u in updates]
    assert any(searched)
    for update, verdict, found in zip(updates, verdicts, searched, strict=True):
        assert verdict is not None
        read = decode_feature_update(update.model_dump_json().encode())
        assert (
            score_record_bytes(read, verdict, "v1", NOW, found)
            == score_record(update, verdict, "v1", NOW, found).model_dump_json().encode()
        )
