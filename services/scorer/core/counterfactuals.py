"""Counterfactuals from the served model: the least feasible changes of behaviour that bring
a customer's feature row to a better grade, each checked by scoring the changed row with
the very model that serves (:mod:`riskmodel.counterfactuals` searches; this module judges
rows with the model)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from riskmodel.counterfactuals import Features, changed_features, least_changes_of
from riskmodel.scaling import calibrate, grade_of, score_from_probability
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
    """Rates candidate rows by the score the model gives them (-inf for an output outside
    [0, 1]): the score of :func:`riskmodel.scaling.assess`, without the grade and limit
    it also derives, which a search does not read."""
    calibration = model.manifest.calibration
    scaling = model.manifest.score_scaling

    def scores(rows: Sequence[Features]) -> list[float]:
        matrix = np.asarray([to_model_row(row) for row in rows], dtype=np.float64)
        outputs = model.probabilities(matrix).tolist()
        return [
            float(score_from_probability(calibrate(output, calibration), scaling))
            if 0.0 <= output <= 1.0
            else -math.inf
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
    (found,) = improvements_of(model, [(features, targets)])
    return found


def improvements_of(
    model: ServedModel, rows: Sequence[tuple[Mapping[str, float | None], Sequence[Grade]]]
) -> list[list[Counterfactual]]:
    """:func:`improvements` for several rows and their targets, the searches side by side:
    one model run per search step for all of them."""
    manifest = model.manifest
    cutoffs = manifest.grade_cutoffs
    searchable = [
        index
        for index, (features, _) in enumerate(rows)
        if all(name in features for name in manifest.feature_names)
    ]
    searches = least_changes_of(
        [
            (rows[i][0], [float(getattr(cutoffs, target)) for target in rows[i][1]])
            for i in searchable
        ],
        _judge(model),
    )
    results: list[list[Counterfactual]] = [[] for _ in rows]
    for index, found_per_goal in zip(searchable, searches, strict=True):
        features = rows[index][0]
        seen: set[tuple[tuple[str, int], ...]] = set()
        for found in found_per_goal:
            if found is None or found.steps in seen:
                continue
            seen.add(found.steps)
            score = int(found.rating)
            results[index].append(
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
