"""The portfolio report as JSON and as one self-contained HTML page (charts are inline PNGs
drawn with matplotlib's Agg backend, so the page needs no network and no display)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import orjson

from schemas.scores import GRADES
from services.common.charts import png_image
from services.reporting.core import PortfolioReport
from services.reporting.vintages import HORIZON_MONTHS, VintageCell


def report_json(report: PortfolioReport) -> bytes:
    """The report's JSON document (indented, UTF-8)."""
    return orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape("" if value is None else str(value))


def _table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _bars(labels: Sequence[str], values: Sequence[float], title: str, ylabel: str) -> str:
    def draw(ax: Any) -> None:
        ax.bar(list(labels), list(values), color="#4c72b0")
        ax.set(title=title, ylabel=ylabel)
        ax.tick_params(axis="x", labelrotation=30)

    return png_image(draw)


def _grade_mix_chart(report: PortfolioReport) -> str:
    def draw(ax: Any) -> None:
        positions = range(len(GRADES))
        ax.bar(
            [p - 0.2 for p in positions],
            [r.opening_share for r in report.grades],
            0.4,
            label="opening",
        )
        ax.bar(
            [p + 0.2 for p in positions],
            [r.closing_share for r in report.grades],
            0.4,
            label="closing",
        )
        ax.set_xticks(list(positions), list(GRADES))
        ax.set(title="Grade mix (share of customers)", ylabel="share")
        ax.legend()

    return png_image(draw)


def _weekly_chart(report: PortfolioReport) -> str:
    def draw(ax: Any) -> None:
        weeks = [w.week_start.isoformat() for w in report.weeks]
        bottom = [0.0] * len(weeks)
        for grade in GRADES:
            shares = [w.grades[grade] / w.scores if w.scores else 0.0 for w in report.weeks]
            ax.bar(weeks, shares, bottom=bottom, label=grade)
            bottom = [b + s for b, s in zip(bottom, shares, strict=True)]
        ax.set(title="Grades of the week's scores", ylabel="share")
        ax.tick_params(axis="x", labelrotation=45)
        ax.legend(ncol=5, fontsize="small")

    return png_image(draw)


def vintage_section(by_grade: Sequence[VintageCell], by_band: Sequence[VintageCell]) -> str:
    """Outcomes against predictions: vintage curves per grade, realised bad rate beside the
    predicted PD and its calibrated band per cohort and grade, and the same per score band
    (see :mod:`services.reporting.vintages` for the definitions)."""

    def curves(ax: Any) -> None:
        shown = [cell for cell in by_grade if cell.curve and cell.customers >= 10]
        for cell in shown:
            months = list(range(1, len(cell.curve) + 1))
            ax.plot(months, cell.curve, marker="o", label=f"{cell.cohort} {cell.segment}")
        ax.set(
            title="Vintage curves by cohort and grade",
            xlabel="months on book",
            ylabel="cumulative bad rate",
        )
        if shown:
            ax.legend(fontsize="x-small", ncol=2)

    def against(ax: Any) -> None:
        labels = [f"{c.cohort} {c.segment}" for c in by_grade]
        positions = list(range(len(by_grade)))
        ax.bar(
            [p - 0.2 for p in positions],
            [c.predicted_pd for c in by_grade],
            0.4,
            label="predicted PD",
        )
        ax.bar(
            [p + 0.2 for p in positions],
            [c.realised_bad_rate or 0.0 for c in by_grade],
            0.4,
            label="realised",
        )
        ax.errorbar(
            [p - 0.2 for p in positions],
            [c.predicted_pd for c in by_grade],
            yerr=[
                [c.predicted_pd - c.band[0] for c in by_grade],
                [c.band[1] - c.predicted_pd for c in by_grade],
            ],
            fmt="none",
            ecolor="black",
            capsize=2,
        )
        ax.set_xticks(positions, labels)
        ax.tick_params(axis="x", labelrotation=60, labelsize="x-small")
        ax.set(
            title=f"Realised ({HORIZON_MONTHS * 30} days) against predicted PD", ylabel="bad rate"
        )
        ax.legend()

    columns = [
        "cohort",
        "segment",
        "customers",
        "predicted PD",
        "band",
        "realised",
        "mature",
        "outside band",
    ]

    def rows(cells: Sequence[VintageCell]) -> list[list[object]]:
        return [
            [
                c.cohort,
                c.segment,
                c.customers,
                c.predicted_pd,
                f"{c.band[0]:.3f}-{c.band[1]:.3f}",
                c.realised_bad_rate,
                c.mature,
                c.outside_band,
            ]
            for c in cells
        ]

    parts = [
        "<h2>Outcomes against predictions</h2>",
        "<p>Customers by the month of their first score (cohort) and that score's grade; "
        "bad: a chargeback or a repayment 30 days past due after the score. Realised: bad "
        f"within {HORIZON_MONTHS * 30} days (the model's horizon) once observable, else so "
        "far; band: 99 % around the mean predicted PD.</p>",
    ]
    if not by_grade:
        parts.append("<p>No scored customer in the period.</p>")
        return "\n".join(parts)
    parts += [
        png_image(curves),
        png_image(against),
        _table(columns, rows(by_grade)),
        "<h3>By score band</h3>",
        _table(columns, rows(by_band)),
    ]
    return "\n".join(parts)


def report_html(report: PortfolioReport, extra: str = "") -> str:
    """The report as a self-contained HTML page; ``extra`` (HTML) goes before the notes."""
    return "\n".join(
        [
            "<!doctype html><html><head><meta charset='utf-8'>",
            "<title>riskstream portfolio report</title><style>",
            "body{font-family:sans-serif;margin:2em;max-width:70em}",
            "table{border-collapse:collapse;margin:1em 0}",
            "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}",
            "</style></head><body>",
            "<h1>Portfolio risk report</h1>",
            report_body(report, extra),
            "</body></html>",
        ]
    )


def report_body(report: PortfolioReport, extra: str = "") -> str:
    """The report's sections as HTML (headings, tables and inline charts; every value
    escaped), for a page of its own or the console's; ``extra`` (HTML) goes before the
    notes."""
    period = report.period
    parts = [
        f"<p>{html.escape(period.start.isoformat())} to {html.escape(period.end.isoformat())}: "
        f"{report.customers_scored} customers scored, {report.scores} scores.</p>",
        "<h2>Grade mix and its change</h2>",
        "<p>Opening: each customer's first score in the period; closing: their last.</p>",
        _table(
            ["grade", "opening", "closing", "opening share", "closing share", "change"],
            [
                [r.grade, r.opening, r.closing, r.opening_share, r.closing_share, r.share_change]
                for r in report.grades
            ],
        ),
        _grade_mix_chart(report),
        "<h3>Migrations (rows: opening grade, columns: closing grade)</h3>",
        _table(
            ["from \\ to", *GRADES],
            [[g, *(report.migrations[g][h] for h in GRADES)] for g in GRADES],
        ),
    ]
    if report.weeks:
        parts.append(_weekly_chart(report))
    parts.append("<h2>Bad rate by grade</h2>")
    if report.outcomes_known:
        parts += [
            "<p>Among customers with a known outcome, by their grade before going bad.</p>",
            _table(
                ["grade", "known outcomes", "bad", "bad rate"],
                [[r.grade, r.known_outcomes, r.bad, r.bad_rate] for r in report.grades],
            ),
            _bars(
                list(GRADES),
                [r.bad_rate or 0.0 for r in report.grades],
                "Bad rate by grade",
                "bad rate",
            ),
        ]
    else:
        parts.append("<p>No outcomes given (<code>--outcomes FILE</code>).</p>")
    parts.append("<h2>Decision quality at the thresholds in force</h2>")
    if report.decision_quality:
        parts += [
            f"<p>{report.decisions_judged} of the period's {report.decisions} decisions of the "
            "score API have a known outcome; a decision is right to flag a customer who went "
            "bad within 90 days after it. At each threshold, decisions at least that severe "
            "flag (approve &lt; review &lt; prepay &lt; decline).</p>",
            _table(
                ["threshold", "TP", "FP", "FN", "TN", "precision", "recall", "F1"],
                [
                    [
                        q.threshold,
                        q.true_positive,
                        q.false_positive,
                        q.false_negative,
                        q.true_negative,
                        q.precision,
                        q.recall,
                        q.f1,
                    ]
                    for q in report.decision_quality
                ],
            ),
        ]
    else:
        parts.append(
            f"<p>{report.decisions} decisions in the period; none with a known outcome "
            "(decision quality needs <code>--outcomes FILE</code>).</p>"
        )
    parts += [
        "<h2>Warnings and actions</h2>",
        _table(["action", "count"], list(report.actions_by_type.items())),
    ]
    if report.actions_by_type:
        parts.append(
            _bars(
                list(report.actions_by_type),
                list(report.actions_by_type.values()),
                "Actions by type",
                "actions",
            )
        )
    parts += [
        _table(["severity", "count"], list(report.actions_by_severity.items())),
        _table(["rule", "actions"], list(report.actions_by_rule.items())),
        "<h2>Customers frozen and restored</h2>",
        _table(
            ["frozen or suspended", "restored", "still restricted at the end"],
            [
                [
                    report.customers_frozen,
                    report.customers_restored,
                    report.customers_still_restricted,
                ]
            ],
        ),
        "<h2>Top reasons</h2><p>The most adverse reason of each score.</p>",
        _table(["reason code", "scores"], report.top_reasons),
        "<h2>Drift</h2>",
        "<p>PSI of the closing score distribution against the opening one: "
        f"{_cell(report.score_psi) or 'not enough scores'} "
        "(below 0.1 stable, 0.1 to 0.25 moderate, above 0.25 large).</p>",
        "<h2>Model versions in service</h2>",
        _table(
            ["model version", "scores", "first score", "last score"],
            [
                [
                    m.model_version,
                    m.scores,
                    m.first_scored_at.isoformat(),
                    m.last_scored_at.isoformat(),
                ]
                for m in report.models
            ],
        ),
        _table(
            ["at", "operation", "version", "by", "reason"],
            [
                [a.at.isoformat(), a.operation, a.subject, a.actor, a.reason]
                for a in report.model_changes
            ],
        ),
    ]
    parts += [
        "<h2>Dormant customers re-judged</h2>",
        "<p>Daily runs of the scheduler that re-scores customers without a recent event, "
        "so restrictions whose windows emptied are lifted (one row per partition and day).</p>",
        _table(
            ["at", "partition", "day", "customers", "re-scored", "active", "expired", "seconds"],
            [
                [
                    a.at.isoformat(),
                    a.details.get("partition"),
                    a.details.get("day"),
                    a.details.get("customers"),
                    a.details.get("rescored"),
                    a.details.get("active"),
                    a.details.get("expired"),
                    a.details.get("seconds"),
                ]
                for a in report.rescore_runs
            ],
        ),
    ]
    parts.append(extra)
    if report.notes:
        parts.append("<h2>Notes</h2><ul>")
        parts += [f"<li>{html.escape(note)}</li>" for note in report.notes]
        parts.append("</ul>")
    return "\n".join(parts)
