"""Counterfactuals from the served model: the least feasible changes of behaviour that bring
a customer's feature row to a better grade, each checked by scoring the changed row with
the very model that serves (:mod:`riskmodel.counterfactuals` searches; this module judges
rows with the model)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from riskmodel.counterfactuals import Features, changed_features, least_changes
from riskmodel.scaling import assess, grade_of
from schemas.features import to_model_row
from schemas.scores import GRADES, Counterfactual, FeatureChange, Grade, LeverStep
from services.scorer.core.verdicts import ServedModel

STANDARD_GRADE: Grade = "B"
"""The grade of standard service and limits (DOMAIN.md): what a notice aims for."""
LOW_GRADES: frozenset[Grade] = frozenset({"C", "D"})
"""Grades the rules restrict: their streamed scores carry counterfactuals for notices."""


def better_grades(grade: Grade, best: Grade = "S") -> list[Grade]:
    """The grades better than ``grade``, nearest first, up to ``best``: D gives C, B, A, S."""
    current, limit = GRADES.index(grade), GRADES.index(best)
    return [GRADES[i] for i in range(current - 1, limit - 1, -1)]


def _judge(model: ServedModel) -> Callable[[Sequence[Features]], list[float]]:
    manifest = model.manifest

    def scores(rows: Sequence[Features]) -> list[float]:
        matrix = np.asarray([to_model_row(row) for row in rows], dtype=np.float64)
        outputs = model.probabilities(matrix).tolist()
        return [
            float(assess(output, manifest).score) if 0.0 <= output <= 1.0 else -math.inf
            for output in outputs
        ]

    return scores


def improvements(
    model: ServedModel, features: Mapping[str, float | None], targets: Sequence[Grade]
) -> list[Counterfactual]:
    """For each target grade (nearest first), the least changes found whose row the model
    scores into that grade or better; one answer per distinct set of changes (its ``grade``
    is where the changed row really lands). Empty when the row lacks a riskstream feature
    (a bundle trained on other columns) or nothing within reach gets there."""
    manifest = model.manifest
    if any(name not in features for name in manifest.feature_names):
        return []
    cutoffs = manifest.grade_cutoffs
    goals = [float(getattr(cutoffs, target)) for target in targets]
    results: list[Counterfactual] = []
    seen: set[tuple[tuple[str, int], ...]] = set()
    for found in least_changes(features, _judge(model), goals):
        if found is None or found.steps in seen:
            continue
        seen.add(found.steps)
        score = int(found.rating)
        results.append(
            Counterfactual(
                steps=[LeverStep(lever=lever, amount=amount) for lever, amount in found.steps],
                changes=[
                    FeatureChange(feature=name, current=current, changed=changed)
                    for name, current, changed in changed_features(features, found.row)
                ],
                grade=grade_of(score, cutoffs),
                score=score,
                model_version=model.version,
            )
        )
    return results


def low_grade_improvements(
    model: ServedModel, features: Mapping[str, float | None], grade: Grade
) -> list[Counterfactual]:
    """For a score of grade C or D, :func:`improvements` towards each better grade up to
    the standard grade B (what an adverse-action notice states); empty otherwise."""
    if grade not in LOW_GRADES:
        return []
    return improvements(model, features, better_grades(grade, STANDARD_GRADE))
