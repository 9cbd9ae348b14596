"""The ports of the sync score use case (:mod:`services.scorer.usecase`) and the stream
scorer: what they need from the store, the model registry and the metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from schemas.actions import AccountStatus
from schemas.scores import ScoreRequest
from services.scorer.core import FloatMatrix, RowScore, ServedModel


@dataclass(frozen=True, slots=True)
class StoredCustomer:
    """What the store holds for one customer: serialised feature state, risk state and the
    feature vector precomputed beside the state (``FeatureVector.to_bytes``; each None when
    absent, the vector also empty when the worker stored none)."""

    feature_state: bytes | None
    risk_state: bytes | None
    feature_vector: bytes | None = None


@dataclass(frozen=True, slots=True)
class StoreRead:
    """One read of the store: every customer asked for, in order, and whether the store
    was complete at that instant (every writer's epoch key whole). When it was not, a
    customer without keys may be one whose keys were lost, not a new one."""

    complete: bool
    customers: list[StoredCustomer]


class FeatureStore(Protocol):
    async def fetch(self, customer_ids: Sequence[str]) -> StoreRead:
        """Both keys of every customer and the writers' epoch keys in one round trip
        (one atomic snapshot); raises :class:`~services.scorer.errors.StoreUnavailableError`
        when the store does not answer."""
        ...


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
class Caller:
    """Who asked for a decision: the API key's label (never the key) and the request id."""

    label: str
    request_id: str | None = None


INTERNAL_CALLER = Caller("internal")
"""The caller of a decision asked from inside the process (tools and tests)."""


@dataclass(frozen=True, slots=True)
class Decided:
    """One answer of the score API, for the decision log: what was asked and answered,
    the feature values the model saw (None: it saw none) and the account status read."""

    decided_at: datetime
    request: ScoreRequest
    answer: Mapping[str, Any]
    features: Mapping[str, float | None] | None
    account_status: AccountStatus | None
    caller: Caller
    batch_size: int
    batch_index: int


class DecisionLog(Protocol):
    def record(self, decisions: Sequence[Decided]) -> None:
        """Queues decisions for ``risk.decisions``. Returns at once (the write is off the
        latency path) and never raises: a decision that cannot be kept is counted."""
        ...
