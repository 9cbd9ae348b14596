"""The model bundle's ``manifest.json``: everything the scorer needs beside ``model.onnx``.

A bundle directory holds ``model.onnx`` (input ``features``: float32 ``[N, n_features]`` in
``feature_names`` order; output ``probability``: float32 ``[N]``, the uncalibrated probability
of default), ``manifest.json`` (this model) and the reason table named in
``reason_codes.table`` (see :mod:`riskmodel.reasons`).
"""

from __future__ import annotations

import itertools
import math
import string
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from schemas.scores import GRADES, Grade, RiskLevel

MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.onnx"
ONNX_INPUT = "features"
ONNX_OUTPUT = "probability"

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class PlattCalibration(BaseModel):
    """Platt scaling in logit space: ``p' = sigmoid(a * logit(p) + b)``, fitted on the
    validation set. ``a > 0`` keeps the ranking, so AUC is unchanged."""

    model_config = _FROZEN

    method: Literal["platt"] = "platt"
    a: float = Field(gt=0)
    b: float


class ScoreScaling(BaseModel):
    """Points-to-double-odds scaling: ``base_score`` at good:bad odds ``base_odds``, and
    ``pdo`` more points each time the odds double; clamped to ``[min_score, max_score]``.
    The defaults are the industry's usual 600 points at 50:1 and 20 points to double the
    odds (bundles store their scaling, so older ones keep theirs)."""

    model_config = _FROZEN

    base_score: float = 600.0
    base_odds: float = Field(default=50.0, gt=0)
    pdo: float = Field(default=20.0, gt=0)
    min_score: int = 300
    max_score: int = 900

    @model_validator(mode="after")
    def _ordered(self) -> ScoreScaling:
        if self.min_score >= self.max_score:
            raise ValueError("min_score must be below max_score")
        return self


class GradeCutoffs(BaseModel):
    """Lowest score of each grade (a score at or above the cut-off earns it); below C is D.

    ``max_probability_of_default`` (S, A, B and C), when present, is the target bad rate each
    cut-off was derived from: the cut-off is the score of that probability under the
    bundle's scaling, so a grade's customers are predicted to go bad at most that often.
    """

    model_config = _FROZEN

    S: int
    A: int
    B: int
    C: int
    max_probability_of_default: dict[Grade, float] | None = None

    @model_validator(mode="after")
    def _descending(self) -> GradeCutoffs:
        if not self.S > self.A > self.B > self.C:
            raise ValueError("grade cut-offs must fall strictly from S to C")
        targets = self.max_probability_of_default
        if targets is not None:
            if set(targets) != {"S", "A", "B", "C"}:
                raise ValueError("max_probability_of_default needs S, A, B and C")
            rates = [targets[g] for g in ("S", "A", "B", "C")]
            if not all(0.0 < a < b < 1.0 for a, b in itertools.pairwise(rates)):
                raise ValueError("target bad rates must rise strictly from S to C within (0, 1)")
        return self

    def as_pairs(self) -> tuple[tuple[Grade, int], ...]:
        """``(grade, cutoff)`` from the best grade down, D excluded."""
        return (("S", self.S), ("A", self.A), ("B", self.B), ("C", self.C))


class LimitPolicy(BaseModel):
    """Credit limit per grade. With ``interpolate_within_grade``, a score between its grade's
    cut-off and the next better grade's earns a limit proportionally between the two grades'
    limits (for A, B and C; S and D are flat). Limits are rounded down to ``rounding``."""

    model_config = _FROZEN

    currency: str = "CNY"
    by_grade: dict[Grade, float]
    interpolate_within_grade: bool = True
    rounding: float = Field(default=100.0, gt=0)

    @model_validator(mode="after")
    def _complete_and_monotone(self) -> LimitPolicy:
        if set(self.by_grade) != set(GRADES):
            raise ValueError("by_grade needs a limit for each of S, A, B, C, D")
        limits = [self.by_grade[g] for g in GRADES]
        if any(limit < 0 for limit in limits) or limits != sorted(limits, reverse=True):
            raise ValueError("limits must be non-negative and never rise from S to D")
        return self


class ReasonText(BaseModel):
    """How one feature reads as a reason: a stable code, a template with a single ``{value}``
    placeholder (an optional format spec such as ``{value:.0f}`` is allowed), and the text
    used when the value is undefined."""

    model_config = _FROZEN

    code: str
    template: str
    missing_text: str

    @model_validator(mode="after")
    def _only_value_placeholders(self) -> ReasonText:
        for _, field_name, _, conversion in string.Formatter().parse(self.template):
            if field_name is not None and (field_name != "value" or conversion is not None):
                raise ValueError(f"template {self.template!r} may only use {{value}}")
        return self


class ReasonCodeSpec(BaseModel):
    """Reason-code inputs: the reason table file in the bundle (per-leaf contributions and the
    flattened trees), and the code and text of each feature."""

    model_config = _FROZEN

    method: Literal["saabas_leaf_table", "tree_shap_leaf_table"] = "tree_shap_leaf_table"
    """``tree_shap_leaf_table``: exact TreeSHAP values per leaf and pattern; bundles written
    before it carry ``saabas_leaf_table`` (path contributions, an approximation)."""
    table: str = "reasons.npz"
    max_reasons: int = Field(default=3, ge=1)
    features: dict[str, ReasonText]


class GoldenRows(BaseModel):
    """A few input rows (null = NaN) and the ONNX output expected for them: the registry gate
    refuses a bundle whose model gives other, NaN or out-of-range outputs."""

    model_config = _FROZEN

    inputs: list[list[float | None]] = Field(min_length=1)
    outputs: list[float]
    tolerance: float = 1e-5

    @model_validator(mode="after")
    def _one_output_per_row(self) -> GoldenRows:
        if len(self.inputs) != len(self.outputs):
            raise ValueError("golden rows need exactly one output per input row")
        return self

    def input_rows(self) -> list[list[float]]:
        """The inputs with null turned back into NaN."""
        return [[math.nan if v is None else v for v in row] for row in self.inputs]


class ThinFilePolicy(BaseModel):
    """The thin-file policy (docs/scorer.md, "Thin file"). A customer never seen gets the
    fixed answer (``probability_of_default``, ``grade``, ``credit_limit``), derived from the
    anonymous newcomers in training. A customer known only from onboarding data
    (registration, verification, bureau report: no order, payment, refund or review yet)
    is scored by the model, graded at best ``best_grade`` and limited to that grade's limit."""

    model_config = _FROZEN

    probability_of_default: float = Field(ge=0, le=1)
    grade: Grade
    credit_limit: float = Field(ge=0)
    best_grade: Grade = Field(
        default="B",
        description="The best grade a customer without behaviour history may get.",
    )


class ColumnEncoding(BaseModel):
    """How one raw tabular column becomes one model input.

    - ``numeric``: the number as is.
    - ``woe``: the weight of evidence of the value's category, ``values[i]`` for
      ``categories[i]`` (ln of the category's good:bad odds over the training odds,
      smoothed), fitted on training rows only; an unseen category scores ``unseen_value``
      (0: no evidence either way) and a missing value its own ``missing_value``.
    - ``categorical``: the index of the value in ``categories`` (bundles written before
      ``woe``; an unseen or empty value becomes NaN).
    """

    model_config = _FROZEN

    name: str
    kind: Literal["numeric", "categorical", "woe"]
    categories: list[str] = Field(default_factory=list)
    values: list[float] = Field(default_factory=list)
    unseen_value: float = 0.0
    missing_value: float = 0.0

    @model_validator(mode="after")
    def _one_value_per_category(self) -> ColumnEncoding:
        if self.kind == "woe" and len(self.values) != len(self.categories):
            raise ValueError(f"column {self.name!r}: a woe encoding needs one value per category")
        if len(set(self.categories)) != len(self.categories):
            raise ValueError(f"column {self.name!r}: categories must be unique")
        return self


_APPROVED: tuple[Grade, ...] = ("S", "A", "B")


class ProtectedColumn(BaseModel):
    """An input column that is, or stands for, a protected attribute."""

    model_config = _FROZEN

    name: str
    attribute: str
    """What it is or stands for: sex, marital_status, age, race, religion, nationality,
    disability."""


class FairnessRecord(BaseModel):
    """What the fairness guard did, and how the model treats groups on the test set.

    ``excluded``: protected columns present in the data and left out of the model (the
    default). ``kept``: protected columns used as inputs because training was told so
    explicitly (``keep_protected``); a bundle with any is marked by it.
    ``adverse_impact_ratio``: the lowest, over the protected attributes present in the
    data, of the lowest group's approval rate over the highest group's (the four-fifths
    rule wants at least 0.8); null when the data names no group. ``approved_grades``: the
    grades that count as approved.
    """

    model_config = _FROZEN

    excluded: list[ProtectedColumn] = Field(default_factory=list)
    kept: list[ProtectedColumn] = Field(default_factory=list)
    adverse_impact_ratio: float | None = Field(default=None, ge=0)
    approved_grades: list[Grade] = Field(default_factory=lambda: list(_APPROVED))


DRIFT_SCORE = "score"
"""The ``name`` of the training distribution of the score itself (not a model input)."""


class TrainingDistribution(BaseModel):
    """How one model input (or, named ``score``, the score) was distributed in training: the
    baseline that live drift is measured against.

    ``edges`` are ascending inner cut points; bin ``i`` holds the values ``v`` with
    ``edges[i-1] <= v < edges[i]`` (bin 0 everything below ``edges[0]``, the last bin
    everything from ``edges[-1]`` up). ``shares`` has one share per bin and
    ``missing_share`` is the share of undefined (NaN) values; together they sum to 1.
    """

    model_config = _FROZEN

    name: str = Field(min_length=1)
    edges: list[float]
    shares: list[float]
    missing_share: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _well_formed(self) -> TrainingDistribution:
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError("edges must rise strictly")
        if len(self.shares) != len(self.edges) + 1:
            raise ValueError("shares needs one share per bin: len(edges) + 1")
        if any(share < 0 for share in self.shares):
            raise ValueError("shares must be non-negative")
        if abs(sum(self.shares) + self.missing_share - 1.0) > 1e-6:
            raise ValueError("shares and missing_share must sum to 1")
        return self


class BundleManifest(BaseModel):
    """``manifest.json`` of a model bundle."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    model_version: str = Field(min_length=1, max_length=64)
    created_at: AwareDatetime
    feature_schema_version: int
    feature_schema_fingerprint: str | None = None
    feature_names: list[str] = Field(min_length=1)
    preprocessing: list[ColumnEncoding] | None = Field(
        default=None,
        description="Raw-column encodings for bundles trained from a CSV; null when the "
        "inputs are riskstream features.",
    )
    data_fingerprint: str
    target: str = "default_90d"
    metrics: dict[str, Any]
    calibration: PlattCalibration
    score_scaling: ScoreScaling
    grade_cutoffs: GradeCutoffs
    risk_levels: dict[RiskLevel, list[Grade]]
    limit_policy: LimitPolicy
    reason_codes: ReasonCodeSpec
    golden_rows: GoldenRows
    thin_file: ThinFilePolicy | None = None
    training_distributions: list[TrainingDistribution] | None = Field(
        default=None,
        description="Training distributions of the score and the most important features, "
        "the drift baseline; null in bundles written before it existed.",
    )
    fairness: FairnessRecord | None = Field(
        default=None,
        description="Protected columns excluded or explicitly kept and the adverse-impact "
        "ratio on the test set; null in bundles written before the fairness guard.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> BundleManifest:
        if len(set(self.feature_names)) != len(self.feature_names):
            raise ValueError("feature_names must be unique")
        graded = sorted(g for grades in self.risk_levels.values() for g in grades)
        if graded != sorted(GRADES):
            raise ValueError("risk_levels must name every grade exactly once")
        if set(self.reason_codes.features) != set(self.feature_names):
            raise ValueError("reason_codes.features must cover exactly the feature names")
        width = {len(row) for row in self.golden_rows.inputs}
        if width != {len(self.feature_names)}:
            raise ValueError("golden rows must have one value per feature")
        if self.preprocessing is not None and [c.name for c in self.preprocessing] != list(
            self.feature_names
        ):
            raise ValueError("preprocessing must list the feature names in order")
        if self.training_distributions is not None:
            names = [d.name for d in self.training_distributions]
            if len(set(names)) != len(names):
                raise ValueError("training_distributions must name each variable once")
            unknown = set(names) - {DRIFT_SCORE, *self.feature_names}
            if unknown:
                raise ValueError(f"training_distributions name unknown variables {unknown}")
        return self

    def risk_level_of(self, grade: Grade) -> RiskLevel:
        """The traffic-light level a grade belongs to."""
        for level, grades in self.risk_levels.items():
            if grade in grades:
                return level
        raise ValueError(f"grade {grade} has no risk level")


def trained_feature_schema(bundle: Path) -> str | None:
    """The fingerprint of the feature schema the bundle in ``bundle`` was trained for, read
    from its manifest without validating the rest (a cheap staleness check); None when the
    manifest is missing, not JSON or names none."""
    try:
        document = orjson.loads((bundle / MANIFEST_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    value = document.get("feature_schema_fingerprint") if isinstance(document, dict) else None
    return value if isinstance(value, str) else None
