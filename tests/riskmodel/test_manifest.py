from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from riskmodel.errors import GateRefusedError
from riskmodel.loading import check_adverse_impact
from riskmodel.manifest import (
    BundleManifest,
    FairnessRecord,
    GradeCutoffs,
    LimitPolicy,
    ReasonText,
)


def _document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "model_version": "20261127-abcdef12",
        "created_at": datetime(2026, 11, 27, tzinfo=UTC).isoformat(),
        "feature_schema_version": 1,
        "feature_names": ["a", "b"],
        "data_fingerprint": "sha256:0",
        "metrics": {"auc": 0.8, "ks": 0.4},
        "calibration": {"method": "platt", "a": 1.1, "b": -0.2},
        "score_scaling": {"base_score": 600, "base_odds": 20, "pdo": 40},
        "grade_cutoffs": {"S": 750, "A": 680, "B": 600, "C": 520},
        "risk_levels": {"green": ["S", "A", "B"], "yellow": ["C"], "red": ["D"]},
        "limit_policy": {"by_grade": {"S": 9, "A": 7, "B": 5, "C": 1, "D": 0}},
        "reason_codes": {
            "features": {
                name: {"code": f"R_{name}", "template": "{value}", "missing_text": "-"}
                for name in ("a", "b")
            }
        },
        "golden_rows": {"inputs": [[1.0, None]], "outputs": [0.3]},
    }
    document.update(changes)
    return document


def test_a_complete_manifest_parses_and_maps_grades_to_levels() -> None:
    manifest = BundleManifest.model_validate(_document())
    assert manifest.risk_level_of("C") == "yellow"
    assert manifest.reason_codes.table == "reasons.npz"
    assert manifest.golden_rows.input_rows()[0][0] == 1.0
    assert math.isnan(manifest.golden_rows.input_rows()[0][1])


def test_manifest_round_trips_through_json() -> None:
    manifest = BundleManifest.model_validate(_document())
    assert BundleManifest.model_validate_json(manifest.model_dump_json()) == manifest


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"grade_cutoffs": {"S": 700, "A": 700, "B": 600, "C": 520}}, "fall strictly"),
        ({"risk_levels": {"green": ["S", "A"], "yellow": ["C"], "red": ["D"]}}, "every grade"),
        ({"feature_names": ["a", "a"]}, "unique"),
        ({"feature_names": ["a", "c"]}, "cover exactly"),
        ({"golden_rows": {"inputs": [[1.0]], "outputs": [0.3]}}, "one value per feature"),
        ({"golden_rows": {"inputs": [[1.0, 2.0]], "outputs": []}}, "one output per input"),
        ({"calibration": {"a": -1.0, "b": 0.0}}, "greater than 0"),
        ({"created_at": "2026-11-27T00:00:00"}, "timezone"),
        ({"unexpected": 1}, "Extra inputs"),
        (
            {"preprocessing": [{"name": "b", "kind": "numeric"}, {"name": "a", "kind": "numeric"}]},
            "in order",
        ),
    ],
)
def test_an_inconsistent_manifest_is_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BundleManifest.model_validate(_document(**changes))


def test_limits_must_cover_every_grade_and_never_rise_towards_d() -> None:
    with pytest.raises(ValidationError, match="each of S, A, B, C, D"):
        LimitPolicy(by_grade={"S": 1, "A": 1})
    with pytest.raises(ValidationError, match="never rise"):
        LimitPolicy(by_grade={"S": 1, "A": 2, "B": 0, "C": 0, "D": 0})


def test_cutoffs_list_grades_from_best_down() -> None:
    cutoffs = GradeCutoffs(S=750, A=680, B=600, C=520)
    assert [grade for grade, _ in cutoffs.as_pairs()] == ["S", "A", "B", "C"]


@pytest.mark.parametrize("template", ["{other}", "{value.__class__}", "{value!r}", "{0}"])
def test_reason_templates_may_only_format_the_value(template: str) -> None:
    with pytest.raises(ValidationError, match="may only use"):
        ReasonText(code="R", template=template, missing_text="-")


def test_the_publish_gate_refuses_a_bundle_below_the_adverse_impact_threshold() -> None:
    manifest = BundleManifest.model_validate(_document())
    measured = manifest.model_copy(update={"fairness": FairnessRecord(adverse_impact_ratio=0.7)})
    check_adverse_impact(measured, None)
    check_adverse_impact(measured, 0.6)
    with pytest.raises(GateRefusedError) as refused:
        check_adverse_impact(measured, 0.8)
    assert refused.value.code == "adverse_impact_below_threshold"
    # Nothing measured (no protected group in the data): nothing to hold against it.
    check_adverse_impact(manifest, 0.8)
