"""The evaluation report: ``report.json`` (machine-readable) and ``report.html`` (one
self-contained page; plots are inline base64 PNGs drawn with matplotlib's Agg backend)."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_curve

from schemas.scores import GRADES
from services.common.charts import png_image

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"


@dataclass(frozen=True, slots=True)
class ReportCurves:
    """Test-set arrays the plots are drawn from (not stored in report.json)."""

    y_test: npt.NDArray[np.int64]
    model_probability: npt.NDArray[np.float64]
    baseline_probability: npt.NDArray[np.float64]
    scores: npt.NDArray[np.float64]
    grades: list[str]
    logistic_probability: npt.NDArray[np.float64] | None = None


def _training_png(draw: Callable[[Any], None]) -> str:
    return png_image(draw, size=(5.6, 3.8))


def write_report(out_dir: Path, report: dict[str, Any], curves: ReportCurves) -> None:
    """Writes report.json and report.html into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / REPORT_JSON).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out_dir / REPORT_HTML).write_text(render_html(report, curves), encoding="utf-8")


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return html.escape("" if value is None else str(value))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(row.get(c))}</td>" for c in columns) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cross_validation(report: dict[str, Any]) -> list[str]:
    """The CSV path's cross-validation table: every model on the same folds."""
    cv = report.get("cross_validation")
    if not cv:
        return []
    rows = [
        {
            "model": name,
            "mean AUC": m["mean"],
            "std": m["std"],
            "folds": ", ".join(f"{a:.3f}" for a in m["aucs"]),
        }
        for name, m in cv["models"].items()
    ]
    return [
        f"<h2>{cv['folds']}-fold cross-validation, every model on the same folds</h2>",
        f"<p>{html.escape(cv['protocol'])}</p>",
        _table(rows, ["model", "mean AUC", "std", "folds"]),
    ]


def _fairness(fairness: dict[str, Any]) -> list[str]:
    """Which protected columns were excluded or kept, and the per-group figures."""
    parts = ["<h2>Fairness</h2>"]
    excluded = ", ".join(f"{p['name']} ({p['attribute']})" for p in fairness["excluded"])
    kept = ", ".join(f"{p['name']} ({p['attribute']})" for p in fairness["kept"])
    parts.append(
        f"<p>Protected columns excluded from the model: {html.escape(excluded or 'none')}. "
        f"Kept on explicit request: {html.escape(kept or 'none')}. Approved means grade "
        f"{', '.join(fairness['approved_grades'])}.</p>"
    )
    groups = fairness.get("groups")
    if not groups:
        parts.append("<p>The data names no protected group, so none can be compared.</p>")
        return parts
    parts.append(
        f"<p>Lowest adverse-impact ratio: {groups['adverse_impact_ratio']} "
        "(the four-fifths rule wants at least 0.8).</p>"
    )
    for column, detail in groups["columns"].items():
        parts.append(
            f"<h3>{html.escape(column)}: adverse-impact ratio {detail['adverse_impact_ratio']}</h3>"
        )
        parts.append(
            _table(
                detail["groups"],
                ["group", "rows", "approval_rate", "auc", "predicted_pd", "observed_bad_rate"],
            )
        )
    return parts


def render_html(report: dict[str, Any], curves: ReportCurves) -> str:
    """The report as one HTML page with no external resources."""
    metrics = report["metrics"]
    baseline = report["baseline"]["metrics"]

    def roc(ax: Any) -> None:
        for label, p in (
            ("LightGBM", curves.model_probability),
            ("WoE scorecard", curves.baseline_probability),
            ("logistic", curves.logistic_probability),
        ):
            if p is None:
                continue
            fpr, tpr, _ = roc_curve(curves.y_test, p)
            ax.plot(fpr, tpr, label=label)
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
        ax.legend()

    def calibration(ax: Any) -> None:
        points = report["calibration_curve"]
        ax.plot([p["predicted"] for p in points], [p["observed"] for p in points], marker="o")
        top = max(max(p["predicted"], p["observed"]) for p in points)
        ax.plot([0, top], [0, top], color="grey", linestyle=":")
        ax.set(xlabel="predicted PD", ylabel="observed bad rate", title="Calibration (test)")

    def distribution(ax: Any) -> None:
        grades = np.asarray(curves.grades)
        bins = np.linspace(curves.scores.min(), curves.scores.max() + 1, 41)
        present = [g for g in GRADES if (grades == g).any()]
        ax.hist(
            [curves.scores[grades == g] for g in present], bins=bins, stacked=True, label=present
        )
        ax.set(xlabel="score", ylabel="customers", title="Score distribution by grade (test)")
        ax.legend()

    def bad_rate(ax: Any) -> None:
        rows = [r for r in report["grades"]["test"] if r["bad_rate"] is not None]
        ax.bar([r["grade"] for r in rows], [r["bad_rate"] for r in rows], color="#b5473a")
        ax.set(xlabel="grade", ylabel="bad rate", title="Bad rate by grade (test)")

    def importance(ax: Any) -> None:
        top = report["feature_importance_gain"][:15][::-1]
        ax.barh([t["feature"] for t in top], [t["gain"] for t in top])
        ax.set(xlabel="gain", title="Feature importance")
        ax.tick_params(axis="y", labelsize=7)

    logistic = report["logistic"]["metrics"]
    test_metrics = {**metrics, "auc": metrics.get("test_auc", metrics["auc"])}
    summary = [
        {
            "measure": name,
            "LightGBM": test_metrics.get(name),
            "WoE scorecard": baseline.get(name),
            "logistic": logistic.get(name),
        }
        for name in ("auc", "ks", "gini", "pr_auc", "brier")
    ]
    extra = {
        k: v
        for k, v in metrics.items()
        if k not in {"auc", "ks", "gini", "pr_auc", "brier", "cv_aucs"}
    }
    scaling = report["scaling"]
    sections = [
        f"<h1>riskstream model {html.escape(report['model_version'])}</h1>",
        f"<p>{html.escape(report['source'])}. Target: {html.escape(report['target'])}.</p>",
        *_cross_validation(report),
        "<h2>Test metrics: LightGBM, the WoE scorecard and a logistic regression</h2>",
        "<p>All three fitted on the same training rows and measured on the same test rows.</p>",
        _table(summary, ["measure", "LightGBM", "WoE scorecard", "logistic"]),
        _table([{"measure": k, "value": v} for k, v in extra.items()], ["measure", "value"]),
        _training_png(roc),
        _training_png(calibration),
        "<h2>Score scaling</h2>",
        f"<p>score = {scaling['base_score']:g} + {scaling['pdo']:g} / ln 2 &times; "
        f"ln(odds / {scaling['base_odds']:g}), odds = (1 &minus; PD) / PD: "
        f"{scaling['base_score']:g} points at {scaling['base_odds']:g}:1 good:bad odds, "
        f"{scaling['pdo']:g} more points each time the odds double, clamped to "
        f"{scaling['min_score']}&ndash;{scaling['max_score']}. Test scores span "
        f"{scaling['test_score_min']:.0f}&ndash;{scaling['test_score_max']:.0f} (1st to 99th "
        f"percentile {scaling['test_score_p01']:.0f}&ndash;{scaling['test_score_p99']:.0f}).</p>",
        "<h2>Grades</h2>",
        "<p>Each grade's cut-off is the score of its target bad rate (max_pd); D is the "
        "rest. Limits follow the grade.</p>",
        _table(
            report["grades"]["test"],
            [
                "grade",
                "count",
                "share",
                "max_pd",
                "predicted_pd",
                "bad_rate",
                "score_min",
                "score_max",
            ],
        ),
        f"<p>Bad rate rises from S to D: {report['grades']['bad_rate_rises']}. "
        f"Cut-offs: {html.escape(json.dumps(report['grade_cutoffs']))}. Limits: "
        f"{html.escape(json.dumps(report['limits']['by_grade']))}.</p>",
        _training_png(distribution),
        _training_png(bad_rate),
        "<h3>Decisions at the thresholds in force (test set, bad outcome = positive)</h3>",
        _table(
            report.get("decision_quality", []),
            [
                "threshold",
                "true_positive",
                "false_positive",
                "false_negative",
                "true_negative",
                "precision",
                "recall",
                "f1",
            ],
        ),
        *_fairness(report["fairness"]),
        "<h2>Features</h2>",
        _training_png(importance),
        "<h3>Population stability, train against test</h3>",
        _table(
            [{"variable": k, "psi": v} for k, v in report["psi_train_vs_test"].items()],
            ["variable", "psi"],
        ),
        "<h2>Serving checks</h2>",
        _table(
            [{"check": k, "value": v} for k, v in report["serving"].items()], ["check", "value"]
        ),
        "<h3>Reason codes against exact TreeSHAP (test set)</h3>",
        _table(
            [{"measure": k, "value": v} for k, v in report["reason_agreement"].items()],
            ["measure", "value"],
        ),
        "<h2>The WoE scorecard's points table</h2>",
        "<p>Optimal monotone binning per input; points per bin under the scaling above.</p>",
        _table(
            report["scorecard_points"], ["variable", "bin", "count", "event_rate", "woe", "points"]
        ),
    ]
    style = (
        "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px}"
        "img{display:inline-block;margin:4px}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>riskstream model report</title>"
        f"<style>{style}</style></head><body>{''.join(sections)}</body></html>\n"
    )
