"""A customer scored over simulated time, each new state fed back into the rule engine."""

from itertools import count

from schemas.scores import Grade, ScoreRecord
from services.warning.core import Evaluation, RuleSet, WarningState, evaluate
from tests.services.warning.warning_fakes import reliable_features
from tests.support.clock import SettableClock

MODEL_LIMIT = 2000.0
# One grade apart is less than the 80-point drop that sudden_score_drop watches for.
GRADE_SCORES: dict[str, int] = {"S": 790, "A": 730, "B": 670, "C": 610, "D": 550}


class Customer:
    """Scores one customer over simulated time, feeding each state back in."""

    def __init__(self, rules: RuleSet, names: tuple[str, ...], customer_id: str = "c-1") -> None:
        self.rules = rules
        self.clock = SettableClock()
        self.customer_id = customer_id
        self.features = reliable_features(names)
        self.state: WarningState | None = None
        self._events = count(1)

    def record(
        self, grade: Grade = "A", score: int | None = None, **features: float | None
    ) -> ScoreRecord:
        self.features.update(features)
        event = next(self._events)
        return ScoreRecord(
            score_id=f"{self.customer_id}-score-{event}",
            customer_id=self.customer_id,
            score=GRADE_SCORES[grade] if score is None else score,
            probability_of_default=0.05,
            grade=grade,
            risk_level="green",
            credit_limit=MODEL_LIMIT,
            reasons=[],
            model_version="m-1",
            feature_schema_version=1,
            features=dict(self.features),
            features_as_of=self.clock.now(),
            triggered_by=f"{self.customer_id}-event-{event}",
            trigger_event_type="order",
            scored_at=self.clock.now(),
        )

    def apply(self, record: ScoreRecord) -> Evaluation:
        result = evaluate(self.rules, self.state, record, self.clock.now())
        self.state = result.state
        return result

    def score(
        self, grade: Grade = "A", score: int | None = None, **features: float | None
    ) -> list[tuple[str, str]]:
        """(rule_id, action) of each action the new score issues."""
        result = self.apply(self.record(grade, score, **features))
        return [(action.rule_id, action.action) for action in result.actions]

    @property
    def status(self) -> str:
        assert self.state is not None
        return self.state.status
