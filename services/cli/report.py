"""``riskstream report``: the portfolio risk report of a period (HTML with charts, and
JSON), from Kafka or from JSONL exports of the topics."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from schemas.actions import RiskAction
from schemas.decisions import DecisionRecord
from schemas.events import PaymentEvent
from schemas.records import AuditRecord
from schemas.scores import ScoreRecord
from services.cli.settings import CliSettings
from services.reporting.core import Period, build_report
from services.reporting.errors import ReportingError
from services.reporting.render import report_html, report_json, vintage_section
from services.reporting.sources import PeriodRecords, read_jsonl, read_kafka, read_outcomes
from services.reporting.vintages import build_book

console = Console(stderr=True)


def parse_bound(text: str, *, end: bool) -> datetime:
    """A period bound: ``YYYY-MM-DD`` (a whole day; as the end, the day is included) or an
    RFC 3339 instant; without an offset, UTC."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start_of_day = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start_of_day + timedelta(days=1) if end else start_of_day
        instant = datetime.fromisoformat(text)
    except ValueError as error:
        raise typer.BadParameter(
            f"{text!r} is neither YYYY-MM-DD nor an RFC 3339 instant"
        ) from error
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def _records(
    period: Period,
    scores: Path | None,
    actions: Path | None,
    audit: Path | None,
    decisions: Path | None,
    payments: Path | None,
) -> PeriodRecords:
    if scores is None and actions is None:
        return asyncio.run(read_kafka(CliSettings(), period))
    if scores is None or actions is None:
        raise typer.BadParameter("offline use needs both --scores FILE and --actions FILE")
    return PeriodRecords(
        read_jsonl(scores, ScoreRecord),
        read_jsonl(actions, RiskAction),
        read_jsonl(audit, AuditRecord) if audit is not None else [],
        read_jsonl(decisions, DecisionRecord) if decisions is not None else [],
        read_jsonl(payments, PaymentEvent) if payments is not None else [],
    )


def report_command(
    from_: Annotated[
        str, typer.Option("--from", help="First day (YYYY-MM-DD) or instant of the period.")
    ],
    to: Annotated[str, typer.Option("--to", help="Last day (included) or end instant (excluded).")],
    out: Annotated[
        Path, typer.Option(help="The HTML report; the JSON goes beside it (.json).")
    ] = Path("report.html"),
    scores: Annotated[
        Path | None, typer.Option(help="risk.scores records (JSONL) instead of Kafka.")
    ] = None,
    actions: Annotated[
        Path | None, typer.Option(help="risk.actions records (JSONL) instead of Kafka.")
    ] = None,
    audit: Annotated[
        Path | None, typer.Option(help="risk.audit records (JSONL), with --scores.")
    ] = None,
    outcomes: Annotated[
        Path | None,
        typer.Option(
            help="Known outcomes (JSONL of customer_id, bad_at) for bad rates and decision quality."
        ),
    ] = None,
    decisions: Annotated[
        Path | None, typer.Option(help="risk.decisions records (JSONL), with --scores.")
    ] = None,
    payments: Annotated[
        Path | None,
        typer.Option(
            help="Payment events (JSONL), with --scores: realised bad rates and vintage "
            "curves by cohort, grade and score band against the predicted PD."
        ),
    ] = None,
) -> None:
    """Write the portfolio risk report of a period: grade mix and its change, bad rate by
    grade, decision quality at the thresholds in force, warnings and actions, customers
    frozen and restored, top reasons, drift and model versions in service."""
    try:
        period = Period(parse_bound(from_, end=False), parse_bound(to, end=True))
        records = _records(period, scores, actions, audit, decisions, payments)
        known = read_outcomes(outcomes) if outcomes is not None else None
        report = build_report(
            period, records.scores, records.actions, records.audit, known, records.decisions
        )
    except ReportingError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from error
    in_period = [s for s in records.scores if s.scored_at in period]
    book = build_book(in_period, records.payments)
    as_of = max([period.end, *(p.occurred_at for p in records.payments)])
    by_grade, by_band = book.cells(as_of), book.cells(as_of, by="band")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report_html(report, vintage_section(by_grade, by_band)), encoding="utf-8")
    json_path = out.with_suffix(".json")
    document = orjson.loads(report_json(report))
    document["outcomes"] = {
        "as_of": as_of.isoformat(),
        "by_grade": [c.to_dict() for c in by_grade],
        "by_score_band": [c.to_dict() for c in by_band],
    }
    json_path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    console.print(
        f"{report.customers_scored} customers, {report.scores} scores, "
        f"{sum(report.actions_by_type.values())} actions: wrote {out} and {json_path}"
    )
