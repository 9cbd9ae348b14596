"""The fairness guard: columns that are, or stand for, protected attributes stay out of the
model unless training is told explicitly to keep them, and the report shows how the model
treats the groups those columns name.

Detection is by column name, word by word (``personal_status_and_sex`` names sex and marital
status, ``age_in_years`` age; ``percentage`` is no age). A column a name does not give away
can still stand for a protected attribute: the per-group figures are there to catch that.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_auc_score

from riskmodel.manifest import ProtectedColumn
from training.errors import TrainingError

PROTECTED_WORDS: dict[str, frozenset[str]] = {
    "sex": frozenset({"sex", "gender", "male", "female"}),
    "marital_status": frozenset({"marital", "married", "marriage"}),
    "age": frozenset({"age", "birth", "birthday", "dob", "born"}),
    "race": frozenset({"race", "racial", "ethnic", "ethnicity", "skin"}),
    "religion": frozenset({"religion", "religious", "faith", "caste"}),
    "nationality": frozenset(
        {"nationality", "national", "citizenship", "citizen", "foreign", "foreigner", "immigrant"}
    ),
    "disability": frozenset({"disability", "disabled", "handicap", "impairment"}),
}
"""Words that mark a column as a protected attribute (after splitting its name)."""

AGE_BANDS = (25, 35, 50, 65)
"""Upper bounds of the age bands a numeric age column is grouped into."""
MIN_GROUP_ROWS = 20
"""Groups smaller than this are reported but not used for the adverse-impact ratio."""
FOUR_FIFTHS = 0.8


def _words(name: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return {w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w}


def find_protected(names: Sequence[str]) -> list[ProtectedColumn]:
    """The columns among ``names`` whose name marks a protected attribute, in order; a
    column naming several (``personal_status_and_sex``) is listed once, under the first."""
    found = []
    for name in names:
        words = _words(name)
        # "personal status" is the German credit data's word for marital status and sex.
        if {"personal", "status"} <= words:
            words.add("marital")
        for attribute, markers in PROTECTED_WORDS.items():
            if words & markers:
                found.append(ProtectedColumn(name=name, attribute=attribute))
                break
    return found


def guard(
    names: Sequence[str], keep: Sequence[str] = ()
) -> tuple[list[ProtectedColumn], list[ProtectedColumn]]:
    """``(excluded, kept)``: the protected columns among ``names``, split by whether
    ``keep`` names them. Raises TrainingError when ``keep`` names a column that is not a
    protected column of the data (a typo must not silently keep nothing)."""
    protected = find_protected(names)
    unknown = sorted(set(keep) - {p.name for p in protected})
    if unknown:
        raise TrainingError(f"--keep-protected names {unknown}, not protected columns of the data")
    kept = [p for p in protected if p.name in keep]
    excluded = [p for p in protected if p.name not in keep]
    return excluded, kept


def group_labels(values: Sequence[Any]) -> list[str]:
    """Group names of one protected column: numbers become age-style bands, everything
    else its text; missing values are ``missing``."""
    numbers = []
    for value in values:
        try:
            numbers.append(float(value))
        except (TypeError, ValueError):
            break
    else:
        labels = []
        for number in numbers:
            if np.isnan(number):
                labels.append("missing")
                continue
            lower = 0
            for bound in AGE_BANDS:
                if number < bound:
                    labels.append(f"{lower}-{bound - 1}")
                    break
                lower = bound
            else:
                labels.append(f"{lower}+")
        return labels
    return ["missing" if v is None or v == "" else str(v) for v in values]


def group_report(
    groups: Mapping[str, Sequence[str]],
    y: npt.NDArray[np.int64],
    probability: npt.NDArray[np.float64],
    approved: npt.NDArray[np.bool_],
) -> dict[str, Any]:
    """Per protected column: each group's rows, approval rate, AUC, mean predicted PD and
    observed bad rate (calibration), and the adverse-impact ratio (lowest approval rate over
    the highest, among groups of at least :data:`MIN_GROUP_ROWS` rows)."""
    columns: dict[str, Any] = {}
    ratios = []
    for column, labels in groups.items():
        label_array = np.asarray(labels)
        rows = []
        for group in sorted(set(labels)):
            mask = label_array == group
            both = len(np.unique(y[mask])) == 2
            rows.append(
                {
                    "group": group,
                    "rows": int(mask.sum()),
                    "approval_rate": float(approved[mask].mean()),
                    "auc": float(roc_auc_score(y[mask], probability[mask])) if both else None,
                    "predicted_pd": float(probability[mask].mean()),
                    "observed_bad_rate": float(y[mask].mean()),
                }
            )
        rates = [r["approval_rate"] for r in rows if r["rows"] >= MIN_GROUP_ROWS]
        ratio = min(rates) / max(rates) if len(rates) >= 2 and max(rates) > 0 else None
        if ratio is not None:
            ratios.append(ratio)
        columns[column] = {
            "groups": rows,
            "adverse_impact_ratio": ratio,
            "passes_four_fifths": None if ratio is None else ratio >= FOUR_FIFTHS,
        }
    return {
        "columns": columns,
        "adverse_impact_ratio": min(ratios) if ratios else None,
    }
