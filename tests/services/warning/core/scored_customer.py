"""A customer scored over simulated time, each new state fed back into the rule engine."""

from itertools import count

from schemas.scores import Grade, ScoreRecord
from services.warning.core import Evaluation, RuleSet, WarningState, evaluate
from tests.services.warning.warning_fakes import reliable_features
from tests.services.warning.warning_fakes import score as score_of
from tests.support.clock import SettableClock


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
        return score_of(
            self.customer_id,
            self.clock.now(),
            grade,
            score,
            number=next(self._events),
            **self.features,
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
