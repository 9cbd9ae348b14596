"""Decision quality at the thresholds in force: how well the decisions taken separated the
customers who then went bad from those who did not.

The decisions are ordered by severity, ``approve < review < prepay < decline`` (a customer
the scorer sends to review is held less than one who must prepay, and a decline holds
most). At each threshold a decision *flags* the customer when it is at least that severe,
and a flag is right when the customer went bad: the confusion matrix, precision (flagged
customers who went bad), recall (bad customers who were flagged) and F1 follow. Training
reports it on the test set with the bundle's own decisions; the portfolio report on the
decision log joined with the outcomes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from schemas.scores import Decision

SEVERITY: dict[Decision, int] = {"approve": 0, "review": 1, "prepay": 2, "decline": 3}
THRESHOLDS: tuple[Decision, ...] = ("review", "prepay", "decline")


@dataclass(frozen=True, slots=True)
class ThresholdQuality:
    """The confusion matrix at one threshold and what follows from it (None: undefined,
    for want of flagged or of bad customers)."""

    threshold: Decision
    true_positive: int
    false_positive: int
    false_negative: int
    true_negative: int

    @property
    def flagged(self) -> int:
        return self.true_positive + self.false_positive

    @property
    def precision(self) -> float | None:
        return self.true_positive / self.flagged if self.flagged else None

    @property
    def recall(self) -> float | None:
        bad = self.true_positive + self.false_negative
        return self.true_positive / bad if bad else None

    @property
    def f1(self) -> float | None:
        precision, recall = self.precision, self.recall
        if not precision or not recall:
            return None if precision is None or recall is None else 0.0
        return 2 * precision * recall / (precision + recall)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "flagged": self.flagged,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


def threshold_quality(outcomes: Iterable[tuple[Decision, bool]]) -> list[ThresholdQuality]:
    """For each of :data:`THRESHOLDS`, the quality of ``(decision, went bad)`` pairs."""
    pairs = list(outcomes)
    results = []
    for threshold in THRESHOLDS:
        level = SEVERITY[threshold]
        counts = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
        for decision, bad in pairs:
            counts[(SEVERITY[decision] >= level, bad)] += 1
        results.append(
            ThresholdQuality(
                threshold=threshold,
                true_positive=counts[(True, True)],
                false_positive=counts[(True, False)],
                false_negative=counts[(False, True)],
                true_negative=counts[(False, False)],
            )
        )
    return results
