"""The scoring use case: from a customer's stored state (or a streamed feature vector) to
a score, a grade, a limit, a decision and reason codes. Framework-free: the HTTP routes and
the stream consumer call it through the ports below.

One function scores feature rows (:func:`score_rows`); :class:`Scorer` adds what the sync
API needs around it: one store round trip per request, features computed at request time
(windows end now), the thin-file policy, the customer's risk state, the time budgets and
the fallback policy, and the shadow challenger.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import orjson
from pydantic import ValidationError

from schemas.actions import AccountStatus, CustomerRiskState
from schemas.features import FeatureUpdate
from schemas.scores import Decision, Grade, ReasonCode, RiskLevel, ScoreRecord, ScoreRequest
from services.features.core import CustomerState, compute_features, to_model_row
from services.features.core.timeline import from_us
from services.features.errors import FeaturesError
from services.scorer.core.manifest import BundleManifest
from services.scorer.core.reasons import reasons_from_contributions
from services.scorer.core.scaling import (
    Assessment,
    assess,
    available_credit,
    decide,
    score_from_probability,
)
from services.scorer.errors import StoreUnavailableError

log = logging.getLogger(__name__)

FloatMatrix = npt.NDArray[np.float64]

ON_CREDIT_METHODS = frozenset({"bnpl", "instalment"})
"""Payment methods that draw on the customer's credit limit."""

NO_MODEL_VERSION = "none"
"""``model_version`` of an answer given while no model is loaded."""


class FallbackReason:
    """Why an answer came from the fallback policy instead of the model."""

    REDIS_UNAVAILABLE = "redis_unavailable"
    FEATURES_STALE = "features_stale"
    FEATURES_UNREADABLE = "features_unreadable"
    MODEL_UNAVAILABLE = "model_unavailable"
    INFERENCE_ERROR = "inference_error"
    INFERENCE_TIMEOUT = "inference_timeout"


THIN_FILE_REASON = ReasonCode(
    code="R_NO_HISTORY",
    feature="days_since_first_event",
    value=None,
    impact=0.0,
    text="We have no order or payment history for this customer yet.",
)


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class StoredCustomer:
    """What the store holds for one customer: serialised feature state and risk state
    (each None when absent)."""

    feature_state: bytes | None
    risk_state: bytes | None


class FeatureStore(Protocol):
    async def fetch(self, customer_ids: Sequence[str]) -> list[StoredCustomer]:
        """Both keys of every customer in one round trip, in order; raises
        :class:`StoreUnavailableError` when the store does not answer."""
        ...


class ServedModel(Protocol):
    """A gated bundle: its manifest, the model's raw probabilities and reason contributions."""

    @property
    def manifest(self) -> BundleManifest: ...

    @property
    def version(self) -> str: ...

    def probabilities(self, rows: FloatMatrix) -> FloatMatrix: ...

    def contributions(self, rows: FloatMatrix) -> FloatMatrix: ...


class ModelSource(Protocol):
    """The models serving right now. Each call returns one consistent model, so a request
    that reads the champion once uses one version from start to finish."""

    def champion(self) -> ServedModel | None: ...

    def challenger(self) -> ServedModel | None: ...


class ScoringObserver(Protocol):
    """Where the use case reports timings and outcomes (metrics, in production)."""

    def stage(self, stage: str, seconds: float) -> None: ...

    def answered(self, model_version: str, grade: str, decision: str) -> None: ...

    def fallback(self, reason: str) -> None: ...

    def divergence(self, champion: str, challenger: str, points: float) -> None: ...

    def shadow_failed(self, challenger: str) -> None: ...


class ModelMonitor(Protocol):
    """Where the use case reports what the model sees and says, for feature freshness,
    score distribution and drift (metrics, in production)."""

    def features_read(self, age_seconds: float) -> None:
        """A stored feature state was read; its last event is ``age_seconds`` old."""
        ...

    def rows_scored(
        self, model: ServedModel, rows: FloatMatrix, verdicts: Sequence[RowScore | None]
    ) -> None:
        """``model`` scored ``rows``; ``verdicts[i]`` is row i's verdict (None: unscorable)."""
        ...


@dataclass(frozen=True, slots=True)
class FallbackPolicy:
    """The configured answer when the model cannot give one. ``credit_decision`` is never
    ``approve`` (settings refuse it): a frozen customer must not be approved on credit
    when the risk state could not be read."""

    credit_decision: Decision
    other_decision: Decision
    grade: Grade
    risk_level: RiskLevel
    score: int
    probability_of_default: float
    credit_limit: float


@dataclass(frozen=True, slots=True)
class ThinFileDefault:
    """The thin-file policy used when the serving bundle's manifest has none."""

    probability_of_default: float
    grade: Grade
    credit_limit: float


@dataclass(frozen=True, slots=True)
class Budgets:
    redis_s: float
    model_s: float
    inline_rows: int
    features_max_age: timedelta


@dataclass(frozen=True, slots=True)
class RowScore:
    """The model's verdict on one feature row."""

    assessment: Assessment
    reasons: list[ReasonCode]


def score_rows(
    model: ServedModel,
    rows: FloatMatrix,
    observer: ScoringObserver,
    monitor: ModelMonitor | None = None,
) -> list[RowScore | None]:
    """Scores feature rows (``[N, n]``, NaN for undefined) in one model run: calibrated
    probability, score, grade, risk level, model limit and adverse reasons. A row whose
    model output is NaN or outside [0, 1] yields None (the caller falls back for it).
    ``monitor``, when given, sees the rows and their verdicts."""
    manifest = model.manifest
    started = time.perf_counter()
    outputs = model.probabilities(rows).tolist()
    inferred = time.perf_counter()
    observer.stage("inference", inferred - started)
    contributions = model.contributions(rows).tolist()
    values = rows.tolist()
    results: list[RowScore | None] = []
    for output, row, row_contributions in zip(outputs, values, contributions, strict=True):
        if not 0.0 <= output <= 1.0:  # False for NaN too
            results.append(None)
            continue
        results.append(
            RowScore(
                assess(output, manifest),
                reasons_from_contributions(
                    row, row_contributions, manifest.feature_names, manifest.reason_codes
                ),
            )
        )
    observer.stage("reasons", time.perf_counter() - inferred)
    if monitor is not None:
        monitor.rows_scored(model, rows, results)
    return results


def score_id_of(triggered_by: str, model_version: str) -> str:
    """The stable id of a streamed score: the same trigger scored by the same model version
    always has the same id, so a replay is recognisable downstream."""
    digest = hashlib.sha256(f"{triggered_by}\x1f{model_version}".encode()).hexdigest()
    return digest[:32]


def score_record(
    update: FeatureUpdate, verdict: RowScore, model_version: str, now: datetime
) -> ScoreRecord:
    """The ``risk.scores`` record for a streamed feature update and the model's verdict."""
    assessment = verdict.assessment
    return ScoreRecord(
        score_id=score_id_of(update.triggered_by, model_version),
        customer_id=update.customer_id,
        score=assessment.score,
        probability_of_default=assessment.probability_of_default,
        grade=assessment.grade,
        risk_level=assessment.risk_level,
        credit_limit=assessment.credit_limit,
        reasons=verdict.reasons,
        model_version=model_version,
        feature_schema_version=update.feature_schema_version,
        features=update.features,
        features_as_of=update.as_of,
        triggered_by=update.triggered_by,
        trigger_event_type=update.trigger_event_type,
        event_occurred_at=update.event_occurred_at,
        scored_at=now,
    )


@dataclass(slots=True)
class _Customer:
    """One request's customer while it is being scored."""

    request: ScoreRequest
    risk: CustomerRiskState | None = None
    features: Mapping[str, float | None] | None = None
    row: int | None = None
    answer: dict[str, Any] | None = None


def _reason_dict(reason: ReasonCode) -> dict[str, Any]:
    return {
        "code": reason.code,
        "feature": reason.feature,
        "value": reason.value,
        "impact": reason.impact,
        "text": reason.text,
    }


def _on_credit(request: ScoreRequest) -> bool:
    """Without an order the question is whether credit is open to the customer at all."""
    return request.order is None or request.order.payment_method in ON_CREDIT_METHODS


def _status(risk: CustomerRiskState | None) -> AccountStatus:
    return "active" if risk is None else risk.status


def _cap(limit: float, risk: CustomerRiskState | None) -> float:
    """The model's limit, capped by a limit the warning service imposed."""
    if risk is not None and risk.credit_limit is not None:
        return min(limit, risk.credit_limit)
    return limit


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
    ) -> None:
        self._store = store
        self._monitor = monitor
        self._models = models
        self._clock = clock
        self._observer = observer
        self._budgets = budgets
        self._fallback = fallback
        self._thin_file = thin_file
        self._shadow_tasks: set[asyncio.Task[None]] = set()

    async def score(self, requests: Sequence[ScoreRequest]) -> list[dict[str, Any]]:
        """One answer per request, in order; never raises for a dependency failure (the
        fallback policy answers, with ``fallback: true`` and the reason)."""
        now = self._clock.now()
        champion = self._models.champion()
        customers = [_Customer(request) for request in requests]
        started = time.perf_counter()
        try:
            # asyncio.timeout, not wait_for: no task per request on the hot path.
            async with asyncio.timeout(self._budgets.redis_s):
                stored = await self._store.fetch([r.customer_id for r in requests])
        except (StoreUnavailableError, TimeoutError) as error:
            self._observer.stage("redis", time.perf_counter() - started)
            log.warning("store unavailable, answering fallback", extra={"error": repr(error)})
            return [
                self._fallback_answer(c, FallbackReason.REDIS_UNAVAILABLE, champion)
                for c in customers
            ]
        self._observer.stage("redis", time.perf_counter() - started)

        started = time.perf_counter()
        rows: list[list[float]] = []
        for customer, record in zip(customers, stored, strict=True):
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

    def _read(
        self,
        customer: _Customer,
        record: StoredCustomer,
        now: datetime,
        champion: ServedModel | None,
    ) -> None:
        """Parses the stored state; answers at once when no model run is needed."""
        if record.risk_state is not None:
            try:
                customer.risk = CustomerRiskState.model_validate_json(record.risk_state)
            except ValidationError:
                customer.answer = self._fallback_answer(
                    customer, FallbackReason.FEATURES_UNREADABLE, champion
                )
                return
        if champion is None:
            customer.answer = self._fallback_answer(
                customer, FallbackReason.MODEL_UNAVAILABLE, None
            )
            return
        state = None
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
        age = now - from_us(state.clock_us)
        if self._monitor is not None:
            self._monitor.features_read(age.total_seconds())
        if age > self._budgets.features_max_age:
            customer.answer = self._fallback_answer(
                customer, FallbackReason.FEATURES_STALE, champion
            )
            return
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
                return score_rows(champion, matrix, self._observer, self._monitor)
            return await asyncio.wait_for(
                asyncio.to_thread(score_rows, champion, matrix, self._observer, self._monitor),
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
        limit = _cap(assessment.credit_limit, customer.risk)
        available = available_credit(limit, features.get("credit_outstanding"))
        return self._answer(
            customer,
            score=assessment.score,
            probability=assessment.probability_of_default,
            grade=assessment.grade,
            risk_level=assessment.risk_level,
            limit=limit,
            available=available,
            reasons=verdict.reasons,
            model_version=champion.version,
            features_as_of=now,
        )

    def _thin_file_answer(self, customer: _Customer, champion: ServedModel) -> dict[str, Any]:
        manifest = champion.manifest
        policy = manifest.thin_file or self._thin_file
        probability = policy.probability_of_default
        limit = _cap(policy.credit_limit, customer.risk)
        return self._answer(
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
        )

    def _answer(
        self,
        customer: _Customer,
        *,
        score: int,
        probability: float,
        grade: Grade,
        risk_level: RiskLevel,
        limit: float,
        available: float,
        reasons: list[ReasonCode],
        model_version: str,
        features_as_of: datetime | None,
    ) -> dict[str, Any]:
        request = customer.request
        decision = decide(
            grade=grade,
            account_status=_status(customer.risk),
            on_credit=_on_credit(request),
            order_amount=float(request.order.amount) if request.order is not None else 0.0,
            available=available,
        )
        self._observer.answered(model_version, grade, decision)
        return {
            "customer_id": request.customer_id,
            "score": score,
            "probability_of_default": round(probability, 6),
            "grade": grade,
            "risk_level": risk_level,
            "decision": decision,
            "credit_limit": limit,
            "available_credit": available,
            "reasons": [_reason_dict(reason) for reason in reasons],
            "model_version": model_version,
            "features_as_of": features_as_of.isoformat() if features_as_of else None,
            "fallback": False,
            "fallback_reason": None,
        }

    def _fallback_answer(
        self, customer: _Customer, reason: str, champion: ServedModel | None
    ) -> dict[str, Any]:
        policy = self._fallback
        request = customer.request
        status = _status(customer.risk)
        if status == "suspended":
            decision: Decision = "decline"
        elif _on_credit(request):
            decision = policy.credit_decision
        else:
            decision = policy.other_decision
        limit = _cap(policy.credit_limit, customer.risk)
        version = champion.version if champion is not None else NO_MODEL_VERSION
        self._observer.fallback(reason)
        self._observer.answered(version, policy.grade, decision)
        return {
            "customer_id": request.customer_id,
            "score": policy.score,
            "probability_of_default": policy.probability_of_default,
            "grade": policy.grade,
            "risk_level": policy.risk_level,
            "decision": decision,
            "credit_limit": limit,
            "available_credit": limit,
            "reasons": [],
            "model_version": version,
            "features_as_of": None,
            "fallback": True,
            "fallback_reason": reason,
        }

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


def decode_update(value: bytes) -> FeatureUpdate:
    """Parses a ``features.updates`` record; ValueError (or pydantic's ValidationError,
    a ValueError) when it is not one."""
    return FeatureUpdate.model_validate(orjson.loads(value))
