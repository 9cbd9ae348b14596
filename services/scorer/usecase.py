"""The sync score use case (``POST /v1/score`` and ``:batch``): from a customer's stored
state to a score, a grade, a limit, a decision and reason codes. Framework-free: the HTTP
routes call :class:`Scorer` and the stream consumer calls :func:`observed_score_rows`, both
through the ports in :mod:`services.scorer.ports`.

Around the model's verdict (:func:`services.scorer.core.score_rows`) :class:`Scorer` adds
what the sync API needs: one store round trip per request, features computed at request
time (windows end now; read from the vector the feature worker stored beside the state
while that vector is exact, computed from the state otherwise), the thin-file policy, the
customer's risk state, the time budgets and the fallback policy, and the shadow
challenger. While the store is incomplete (a writer's epoch key is missing: Redis lost
data and is being rebuilt) every customer gets the fallback answer with
``store_rebuilding``: a customer without keys could be one whose keys were lost, so
neither the model nor the thin-file policy may answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from pydantic import ValidationError

from riskmodel.scaling import assess, available_credit, decide, score_from_probability
from schemas.actions import AccountStatus, CustomerRiskState
from schemas.features import to_model_row
from schemas.scores import Grade, ReasonCode, RiskLevel, ScoreRequest
from services.common.clock import Clock
from services.common.tiers import ServiceTiers
from services.features.core import (
    CustomerState,
    FeaturesError,
    FeatureVector,
    compute_features,
    from_us,
    to_us,
)
from services.scorer.core import (
    NO_MODEL_VERSION,
    THIN_FILE_REASON,
    FallbackPolicy,
    FallbackReason,
    FloatMatrix,
    RowScore,
    ServedModel,
    ThinFileDefault,
    account_status,
    capped_limit,
    new_decision_id,
    on_credit,
    score_answer,
    score_rows,
)
from services.scorer.errors import StoreUnavailableError
from services.scorer.ports import (
    INTERNAL_CALLER,
    Caller,
    Decided,
    DecisionLog,
    FeatureStore,
    ModelMonitor,
    ModelSource,
    ScoringObserver,
    StoredCustomer,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Budgets:
    redis_s: float
    model_s: float
    inline_rows: int
    features_max_age: timedelta


def observed_score_rows(
    model: ServedModel,
    rows: FloatMatrix,
    observer: ScoringObserver,
    monitor: ModelMonitor | None,
) -> list[RowScore | None]:
    """:func:`score_rows`, with its stage times reported to ``observer`` and the rows and
    verdicts to ``monitor`` (when given)."""
    verdicts = score_rows(model, rows, observer.stage)
    if monitor is not None:
        monitor.rows_scored(model, rows, verdicts)
    return verdicts


@dataclass(frozen=True, slots=True)
class Standing:
    """A customer's standing (see :meth:`Scorer.standing`): the answer, the features the
    model saw (None: none), the risk state read (None: none) and the model (None: none)."""

    answer: dict[str, Any]
    features: Mapping[str, float | None] | None
    risk: CustomerRiskState | None
    model: ServedModel | None
    at: datetime


@dataclass(slots=True)
class _Customer:
    """One request's customer while it is being scored."""

    request: ScoreRequest
    now: datetime
    risk: CustomerRiskState | None = None
    risk_read: bool = False
    features: Mapping[str, float | None] | None = None
    row: int | None = None
    answer: dict[str, Any] | None = None


class Scorer:
    """The sync score use case (``POST /v1/score`` and ``:batch``)."""

    def __init__(
        self,
        store: FeatureStore,
        models: ModelSource,
        clock: Clock,
        observer: ScoringObserver,
        budgets: Budgets,
        fallback: FallbackPolicy,
        thin_file: ThinFileDefault,
        monitor: ModelMonitor | None = None,
        decisions: DecisionLog | None = None,
        tiers: ServiceTiers | None = None,
    ) -> None:
        self._tiers = tiers
        self._store = store
        self._decisions = decisions
        self._monitor = monitor
        self._models = models
        self._clock = clock
        self._observer = observer
        self._budgets = budgets
        self._fallback = fallback
        self._thin_file = thin_file
        self._shadow_tasks: set[asyncio.Task[None]] = set()

    async def score(
        self, requests: Sequence[ScoreRequest], caller: Caller = INTERNAL_CALLER
    ) -> list[dict[str, Any]]:
        """One answer per request, in order, each with a fresh ``decision_id``; never raises
        for a dependency failure (the fallback policy answers, with ``fallback: true`` and
        the reason). Every answer is handed to the decision log, off the latency path."""
        now = self._clock.now()
        customers = [_Customer(request, now) for request in requests]
        answers = await self._answer(customers, now, self._models.champion())
        if self._decisions is not None:
            self._decisions.record(
                [
                    Decided(
                        decided_at=now,
                        request=customer.request,
                        answer=answer,
                        features=customer.features,
                        account_status=account_status(customer.risk)
                        if customer.risk_read
                        else None,
                        caller=caller,
                        batch_size=len(customers),
                        batch_index=index,
                    )
                    for index, (customer, answer) in enumerate(zip(customers, answers, strict=True))
                ]
            )
        return answers

    async def standing(self, customer_id: str) -> Standing:
        """The customer's standing now, as the score API would answer "may they buy on
        credit" (no order), with what it read and the model that judged. Not a decision:
        nothing goes to the decision log."""
        now = self._clock.now()
        customer = _Customer(ScoreRequest(customer_id=customer_id), now)
        champion = self._models.champion()
        (answer,) = await self._answer([customer], now, champion)
        return Standing(answer, customer.features, customer.risk, champion, now)

    async def _answer(
        self, customers: list[_Customer], now: datetime, champion: ServedModel | None
    ) -> list[dict[str, Any]]:
        started = time.perf_counter()
        try:
            # asyncio.timeout, not wait_for: no task per request on the hot path.
            async with asyncio.timeout(self._budgets.redis_s):
                stored = await self._store.fetch([c.request.customer_id for c in customers])
        except (StoreUnavailableError, TimeoutError) as error:
            self._observer.stage("redis", time.perf_counter() - started)
            log.warning("store unavailable, answering fallback", extra={"error": repr(error)})
            return [
                self._fallback_answer(c, FallbackReason.REDIS_UNAVAILABLE, champion)
                for c in customers
            ]
        self._observer.stage("redis", time.perf_counter() - started)
        if not stored.complete:
            return [
                self._rebuilding_answer(c, r, champion)
                for c, r in zip(customers, stored.customers, strict=True)
            ]

        started = time.perf_counter()
        rows: list[list[float]] = []
        for customer, record in zip(customers, stored.customers, strict=True):
            self._read(customer, record, now, champion)
            if customer.answer is None and customer.features is not None:
                customer.row = len(rows)
                rows.append(to_model_row(customer.features))
        self._observer.stage("features", time.perf_counter() - started)

        if rows and champion is not None:
            matrix = np.asarray(rows, dtype=np.float64)
            verdicts = await self._run(champion, matrix, customers)
            if verdicts is not None:
                for customer in customers:
                    if customer.row is not None and customer.answer is None:
                        verdict = verdicts[customer.row]
                        customer.answer = (
                            self._model_answer(customer, verdict, champion, now)
                            if verdict is not None
                            else self._fallback_answer(
                                customer, FallbackReason.INFERENCE_ERROR, champion
                            )
                        )
                self._start_shadow(champion, matrix, verdicts)
        answers = [customer.answer for customer in customers]
        assert all(a is not None for a in answers), "every customer is answered"
        return [a for a in answers if a is not None]

    def _rebuilding_answer(
        self, customer: _Customer, record: StoredCustomer, champion: ServedModel | None
    ) -> dict[str, Any]:
        """The fallback answer while the store is incomplete: neither the model (the
        customer's features may be lost) nor the thin-file policy (the customer may not be
        new). A risk state already rebuilt still counts: a suspended customer is declined."""
        if record.risk_state is not None:
            try:
                customer.risk = CustomerRiskState.model_validate_json(record.risk_state)
            except ValidationError:
                customer.risk = None
        return self._fallback_answer(customer, FallbackReason.STORE_REBUILDING, champion)

    def _read(
        self,
        customer: _Customer,
        record: StoredCustomer,
        now: datetime,
        champion: ServedModel | None,
    ) -> None:
        """Parses the stored state; answers at once when no model run is needed."""
        customer.risk_read = True
        if record.risk_state is not None:
            try:
                customer.risk = CustomerRiskState.model_validate_json(record.risk_state)
            except ValidationError:
                customer.risk_read = False
                customer.answer = self._fallback_answer(
                    customer, FallbackReason.FEATURES_UNREADABLE, champion
                )
                return
        if champion is None:
            customer.answer = self._fallback_answer(
                customer, FallbackReason.MODEL_UNAVAILABLE, None
            )
            return
        now_us = to_us(now)
        vector = _exact_vector(record.feature_vector, now_us)
        state = None
        if vector is not None:
            clock_us, first_event_us = vector.clock_us, vector.first_event_us
        else:
            if record.feature_state is not None:
                try:
                    state = CustomerState.from_bytes(record.feature_state)
                except FeaturesError:
                    customer.answer = self._fallback_answer(
                        customer, FallbackReason.FEATURES_UNREADABLE, champion
                    )
                    return
            if state is None or state.clock_us is None:
                customer.answer = self._thin_file_answer(customer, champion)
                return
            clock_us, first_event_us = state.clock_us, state.first_event_us
        age = now - from_us(clock_us)
        if self._monitor is not None:
            self._monitor.features_read(age.total_seconds())
        # Onboarding data alone (no first business event) counts for the customer's lifetime:
        # a customer who registered long ago and comes to buy now is a thin file, not stale.
        if age > self._budgets.features_max_age and first_event_us is not None:
            customer.answer = self._fallback_answer(
                customer, FallbackReason.FEATURES_STALE, champion
            )
            return
        if vector is not None:
            customer.features = vector.features_at(now_us)
            return
        assert state is not None, "without an exact vector the state was read"
        try:
            customer.features = compute_features(state, now)
        except FeaturesError:
            # The state's clock is more than a day ahead of ours: it cannot describe now.
            customer.answer = self._fallback_answer(
                customer, FallbackReason.FEATURES_UNREADABLE, champion
            )

    async def _run(
        self, champion: ServedModel, matrix: FloatMatrix, customers: list[_Customer]
    ) -> list[RowScore | None] | None:
        """Runs the champion on every row: inline for small requests, in a worker thread
        under the model budget for large ones. On failure answers the affected customers
        from the fallback policy and returns None."""
        reason = FallbackReason.INFERENCE_ERROR
        try:
            if len(matrix) <= self._budgets.inline_rows:
                return observed_score_rows(champion, matrix, self._observer, self._monitor)
            return await asyncio.wait_for(
                asyncio.to_thread(
                    observed_score_rows, champion, matrix, self._observer, self._monitor
                ),
                self._budgets.model_s,
            )
        except TimeoutError:
            reason = FallbackReason.INFERENCE_TIMEOUT
        except Exception:
            log.exception("model run failed", extra={"model_version": champion.version})
        for customer in customers:
            if customer.row is not None and customer.answer is None:
                customer.answer = self._fallback_answer(customer, reason, champion)
        return None

    def _model_answer(
        self, customer: _Customer, verdict: RowScore, champion: ServedModel, now: datetime
    ) -> dict[str, Any]:
        assessment = verdict.assessment
        features = customer.features or {}
        limit = capped_limit(assessment.credit_limit, customer.risk)
        return self._decided_answer(
            customer,
            score=assessment.score,
            probability=assessment.probability_of_default,
            grade=assessment.grade,
            risk_level=assessment.risk_level,
            limit=limit,
            available=available_credit(limit, features.get("credit_outstanding")),
            reasons=verdict.reasons,
            model_version=champion.version,
            features_as_of=now,
            thin_file=assessment.thin_file,
        )

    def _thin_file_answer(self, customer: _Customer, champion: ServedModel) -> dict[str, Any]:
        manifest = champion.manifest
        policy = manifest.thin_file or self._thin_file
        probability = policy.probability_of_default
        limit = capped_limit(policy.credit_limit, customer.risk)
        return self._decided_answer(
            customer,
            score=score_from_probability(probability, manifest.score_scaling),
            probability=probability,
            grade=policy.grade,
            risk_level=manifest.risk_level_of(policy.grade),
            limit=limit,
            available=limit,
            reasons=[THIN_FILE_REASON],
            model_version=champion.version,
            features_as_of=None,
            thin_file=True,
        )

    def _decided_answer(
        self,
        customer: _Customer,
        *,
        score: int,
        probability: float,
        grade: Grade,
        risk_level: RiskLevel,
        limit: float,
        available: float,
        reasons: Sequence[ReasonCode],
        model_version: str,
        features_as_of: datetime | None,
        thin_file: bool,
    ) -> dict[str, Any]:
        """An answer from the model or the thin-file policy: the order is decided on the
        grade, the account status and the credit available."""
        request = customer.request
        status = account_status(customer.risk)
        decision = decide(
            grade=grade,
            account_status=status,
            on_credit=on_credit(request),
            order_amount=float(request.order.amount) if request.order is not None else 0.0,
            available=available,
        )
        self._observer.answered(model_version, grade, decision)
        return score_answer(
            request.customer_id,
            score=score,
            probability_of_default=round(probability, 6),
            grade=grade,
            risk_level=risk_level,
            decision=decision,
            credit_limit=limit,
            available_credit=available,
            reasons=reasons,
            model_version=model_version,
            features_as_of=features_as_of,
            fallback_reason=None,
            decision_id=new_decision_id(customer.now),
            service_tier=self._tier(grade, status),
            thin_file=thin_file,
        )

    def _fallback_answer(
        self, customer: _Customer, reason: str, champion: ServedModel | None
    ) -> dict[str, Any]:
        policy = self._fallback
        decision = policy.decision(customer.request, customer.risk)
        limit = capped_limit(policy.credit_limit, customer.risk)
        version = champion.version if champion is not None else NO_MODEL_VERSION
        self._observer.fallback(reason)
        self._observer.answered(version, policy.grade, decision)
        return score_answer(
            customer.request.customer_id,
            score=policy.score,
            probability_of_default=policy.probability_of_default,
            grade=policy.grade,
            risk_level=policy.risk_level,
            decision=decision,
            credit_limit=limit,
            available_credit=limit,
            reasons=[],
            model_version=version,
            features_as_of=None,
            fallback_reason=reason,
            decision_id=new_decision_id(customer.now),
            service_tier=self._tier(policy.grade, account_status(customer.risk)),
        )

    def _tier(self, grade: Grade, status: AccountStatus) -> dict[str, Any] | None:
        return None if self._tiers is None else self._tiers.view(grade, status)

    def _start_shadow(
        self, champion: ServedModel, matrix: FloatMatrix, verdicts: list[RowScore | None]
    ) -> None:
        challenger = self._models.challenger()
        if challenger is None or challenger is champion:
            return
        task = asyncio.create_task(
            shadow_score(challenger, champion, matrix, verdicts, self._observer)
        )
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)


def _exact_vector(stored: bytes | None, now_us: int) -> FeatureVector | None:
    """The stored vector when it gives exactly the features computed from the state at
    ``now_us`` (made for the current feature schema, at or before ``now_us``, exact until
    after it); None otherwise, and for a missing, empty or malformed vector: the state,
    written in the same command, then decides, so a bad vector never changes an answer."""
    if not stored:
        return None
    try:
        vector = FeatureVector.from_bytes(stored)
    except FeaturesError:
        return None
    return vector if vector is not None and vector.covers(now_us) else None


async def shadow_score(
    challenger: ServedModel,
    champion: ServedModel,
    matrix: FloatMatrix,
    verdicts: Sequence[RowScore | None],
    observer: ScoringObserver,
) -> None:
    """Scores the rows with the challenger after the champion's answer has gone, and
    reports ``|score_champion - score_challenger|`` per row. Never decides anything; a
    failing challenger is counted, never raised."""
    await asyncio.sleep(0)  # let the champion's answer be sent first
    try:
        outputs = challenger.probabilities(matrix).tolist()
        for output, verdict in zip(outputs, verdicts, strict=True):
            if verdict is None:
                continue
            if not 0.0 <= output <= 1.0:
                observer.shadow_failed(challenger.version)
                continue
            shadow = assess(output, challenger.manifest)
            observer.divergence(
                champion.version, challenger.version, abs(verdict.assessment.score - shadow.score)
            )
    except Exception:
        log.exception("shadow model run failed", extra={"model_version": challenger.version})
        observer.shadow_failed(challenger.version)
