"""In-memory stand-ins for the warning service's ports, and score records to feed it."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from itertools import count

from schemas.actions import RiskAction
from schemas.features import FEATURE_SCHEMA
from schemas.records import AuditRecord, DeadLetterRecord
from schemas.scores import Grade, ScoreRecord
from services.warning.core import LimitAssessment, ReviewCase, WarningState, risk_state_view
from services.warning.errors import (
    PublishUnavailableError,
    StoreRebuildingError,
    StoreUnavailableError,
)

MODEL_LIMIT = 2000.0
SMALL_RULES = b"""version: "small.1"
rules:
  - id: grade_d
    description: Grade D
    severity: red
    when: grade == "D"
    actions: [freeze_credit]
    on_exit: [unfreeze_credit]
"""
BAD_RULES = SMALL_RULES.replace(b'when: grade == "D"', b'when: grade == "E" or')
"""Line 6 is the broken condition."""
# One grade apart is less than the 80-point drop that sudden_score_drop watches for.
GRADE_SCORES: dict[str, int] = {"S": 790, "A": 730, "B": 670, "C": 610, "D": 550}


class FakeStore:
    """Keeps states as the Redis store does (JSON of the state and of its view);
    ``complete`` False stands for a Redis whose epoch key is missing."""

    def __init__(self) -> None:
        self.states: dict[str, bytes] = {}
        self.views: dict[str, bytes] = {}
        self.owners: dict[str, str] = {}
        self.waiting: dict[str, float] = {}
        self.available = True
        self.complete = True
        self.saves = 0

    async def load(self, customer_ids: Sequence[str]) -> dict[str, bytes]:
        if not self.available:
            raise StoreUnavailableError("redis down")
        if not self.complete:
            raise StoreRebuildingError("epoch key missing")
        return {c: self.states[c] for c in customer_ids if c in self.states}

    async def save(self, states: Sequence[WarningState]) -> None:
        if not self.available:
            raise StoreUnavailableError("redis down")
        self.saves += 1
        for state in states:
            self.states[state.customer_id] = state.to_json()
            self.views[state.customer_id] = risk_state_view(state).model_dump_json().encode()
            for case in state.cases:
                self.owners[case.case_id] = state.customer_id
                if case.is_open:
                    self.waiting[case.case_id] = case.opened_at.timestamp()
                else:
                    self.waiting.pop(case.case_id, None)

    async def case_owners(self, case_ids: Sequence[str]) -> dict[str, str]:
        if not self.available:
            raise StoreUnavailableError("redis down")
        return {c: self.owners[c] for c in case_ids if c in self.owners}

    async def open_case_ids(self, limit: int) -> list[str]:
        if not self.available:
            raise StoreUnavailableError("redis down")
        return sorted(self.waiting, key=lambda c: self.waiting[c])[:limit]

    def state(self, customer_id: str) -> WarningState:
        return WarningState.from_json(self.states[customer_id])


class FakeKafka:
    """Actions, audit records, states (``warning.state``) and dead letters, as published
    and acknowledged."""

    def __init__(self) -> None:
        self.actions: list[RiskAction] = []
        self.audits: list[AuditRecord] = []
        self.letters: list[DeadLetterRecord] = []
        self.logged: list[WarningState] = []
        self.available = True

    def _check(self) -> None:
        if not self.available:
            raise PublishUnavailableError("kafka down")

    async def publish(self, actions: Sequence[RiskAction]) -> None:
        self._check()
        self.actions.extend(actions)

    async def record(self, audit: AuditRecord) -> None:
        self._check()
        self.audits.append(audit)

    async def append(self, states: Sequence[WarningState]) -> None:
        self._check()
        self.logged.extend(states)

    async def latest(self, partitions: Collection[int]) -> dict[str, bytes]:
        """The last logged state of each customer (one partition: the fake keeps no
        partitioning)."""
        return {state.customer_id: state.to_json() for state in self.logged}

    async def dead_letters(self, letters: Sequence[DeadLetterRecord]) -> None:
        self._check()
        self.letters.extend(letters)


class RecordingObserver:
    def __init__(self) -> None:
        self.outcomes: dict[str, int] = {}
        self.evaluations = 0
        self.issued_actions: list[str] = []
        self.live: list[tuple[str, str]] = []
        self.refused: list[str] = []
        self.cases_opened: list[str] = []
        self.cases_decided: list[tuple[str, float]] = []
        self.restored_states = 0

    def judged(self, outcome: str, count: int) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + count

    def evaluation(self, seconds: float) -> None:
        assert seconds >= 0
        self.evaluations += 1

    def issued(self, action: RiskAction) -> None:
        self.issued_actions.append(action.action)

    def case_opened(self, case: ReviewCase) -> None:
        self.cases_opened.append(case.origin)

    def case_decided(self, case: ReviewCase, seconds_open: float) -> None:
        self.cases_decided.append((str(case.decision), seconds_open))

    def restored(self, customers: int) -> None:
        self.restored_states += customers

    def rules_live(self, version: str, digest: str) -> None:
        self.live.append((version, digest))

    def rules_refused(self, source: str) -> None:
        self.refused.append(source)


def reliable_features(names: tuple[str, ...] = FEATURE_SCHEMA.names) -> dict[str, float | None]:
    """Features of a customer no default rule should act on."""
    features: dict[str, float | None] = dict.fromkeys(names, 0.0)
    features.update(
        orders_count_30d=6.0,
        orders_credit_share_30d=0.2,
        spend_spike_ratio_24h=1.1,
        refund_rate_30d=0.0,
        payments_failed_ratio_30d=0.0,
        repayments_on_time_ratio_90d=1.0,
        review_rating_mean_90d=4.6,
    )
    return features


_sequence = count(1)


def score(
    customer_id: str,
    at: datetime,
    grade: Grade = "A",
    score_value: int | None = None,
    *,
    number: int | None = None,
    **features: float | None,
) -> ScoreRecord:
    """A score of ``customer_id`` at ``at``, triggered by event ``number`` (by default a
    new one each call, so ids never repeat)."""
    number = next(_sequence) if number is None else number
    values = reliable_features()
    values.update(features)
    return ScoreRecord(
        score_id=f"{customer_id}-score-{number}",
        customer_id=customer_id,
        score=GRADE_SCORES[grade] if score_value is None else score_value,
        probability_of_default=0.05,
        grade=grade,
        risk_level="green",
        credit_limit=MODEL_LIMIT,
        reasons=[],
        model_version="m-1",
        feature_schema_version=FEATURE_SCHEMA.version,
        features=values,
        features_as_of=at,
        triggered_by=f"{customer_id}-event-{number}",
        trigger_event_type="order",
        scored_at=at,
    )


class FakeScores:
    """The score service's judgement for limit applications: every customer grade B with
    a limit of ``limit``, each answer a fresh decision id."""

    def __init__(self, limit: float = 5000.0) -> None:
        self.limit = limit
        self.asked: list[str] = []

    async def assess(self, customer_id: str) -> LimitAssessment:
        self.asked.append(customer_id)
        return LimitAssessment(
            decision_id=f"{len(self.asked):032x}",
            score=610,
            grade="B",
            credit_limit=self.limit,
            model_version="m1",
            thin_file=False,
        )
