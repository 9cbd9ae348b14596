"""``riskstream rules validate FILE``, ``riskstream rules backtest`` and
``riskstream rules propose FILE``.

``validate`` checks a rule file exactly as the warning service does before it goes live
(exit 0 with a summary, or exit 1 with the line and reason). ``backtest`` replays an event
log through the feature core, a model bundle and the rules, and compares the outcome with a
baseline rule set (the packaged default unless given), before anyone deploys the rules.
``propose`` sends a rule file to the warning service as a four-eyes proposal: a second
person with the approver role puts it in force (``riskstream changes approve ID``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from offline.backtest import BacktestReport, RuleSetOutcome, load_model, run_backtest
from offline.errors import EventLogError
from offline.replay import read_event_log
from riskmodel.errors import GateRefusedError
from services.cli.admin_http import admin_call
from services.cli.settings import CliSettings
from services.warning.core import DEFAULT_RULES_PATH, RuleSet, load_rules
from services.warning.errors import RulesError

app = typer.Typer(help="Validate and backtest warning rule files.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

RuleFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="YAML rule file.")]


def _load(path: Path) -> RuleSet:
    """The validated rule set; exit 1 with ``FILE:LINE: reason`` when it is refused."""
    try:
        return load_rules(path.read_bytes())
    except RulesError as error:
        where = f"{path}:{error.line}" if error.line is not None else str(path)
        err.print(f"[red]invalid[/red] {where}: {error.reason}", highlight=False)
        raise typer.Exit(1) from error


@app.command()
def validate(path: RuleFile) -> None:
    """Validate a rule file against the running feature schema."""
    rules = _load(path)
    table = Table(title=f"{path}: version {rules.version}, {len(rules.rules)} rules")
    for column in ("line", "rule", "severity", "when", "actions", "on exit"):
        table.add_column(column)
    for rule in rules.rules:
        table.add_row(
            str(rule.line),
            rule.id,
            rule.severity,
            rule.when.source
            if rule.when is not None
            else f"(escalation) {rule.exit_condition.source}",
            ", ".join(spec.action for spec in rule.actions),
            ", ".join(rule.on_exit) or "-",
        )
    out.print(table)
    out.print(f"[green]valid[/green]: {path}", highlight=False)


@app.command()
def propose(
    path: RuleFile,
    reason: Annotated[str, typer.Option("--reason", help="Why: recorded on the audit trail.")],
) -> None:
    """Propose a rule file to the warning service; a second person approves it."""
    _load(path)
    admin_call(
        CliSettings().warning_url,
        "POST",
        "/v1/rules/proposals",
        {"text": path.read_text(encoding="utf-8"), "reason": reason},
    )


def _actions_table(report: BacktestReport) -> Table:
    candidate = {(r.rule_id, r.action): r for r in report.candidate.action_counts()}
    baseline = {(r.rule_id, r.action): r for r in report.baseline.action_counts()}
    table = Table(
        title=f"actions: candidate {report.candidate.version} vs baseline {report.baseline.version}"
    )
    for column in (
        "rule",
        "action",
        "severity",
        "candidate",
        "its customers",
        "baseline",
        "change",
    ):
        table.add_column(
            column, justify="left" if column in ("rule", "action", "severity") else "right"
        )
    for key in sorted(set(candidate) | set(baseline)):
        row = candidate.get(key) or baseline[key]
        mine = candidate[key].count if key in candidate else 0
        theirs = baseline[key].count if key in baseline else 0
        change = mine - theirs
        table.add_row(
            key[0],
            key[1],
            row.severity,
            str(mine),
            str(candidate[key].customers if key in candidate else 0),
            str(theirs),
            f"[{'red' if change > 0 else 'green'}]{change:+d}[/]" if change else "0",
        )
    return table


def _status_row(outcome: RuleSetOutcome) -> list[str]:
    return [str(count) for count in outcome.final_statuses().values()]


def print_report(report: BacktestReport) -> None:
    summary = Table(title="replay")
    for column in ("events", "applied", "scores", "unscorable", "model"):
        summary.add_column(column)
    summary.add_row(
        str(report.events),
        str(report.events_applied),
        str(report.scores),
        str(report.unscorable),
        report.model_version,
    )
    grades = Table(title="customers by last grade (scores by grade)")
    for grade in report.customers_by_grade:
        grades.add_column(grade, justify="right")
    grades.add_row(
        *(
            f"{report.customers_by_grade[g]} ({report.scores_by_grade[g]})"
            for g in report.customers_by_grade
        )
    )
    statuses = Table(title="customers by account status at the end")
    statuses.add_column("rules")
    for status in ("active", "limited", "frozen", "suspended"):
        statuses.add_column(status, justify="right")
    statuses.add_row(f"candidate {report.candidate.version}", *_status_row(report.candidate))
    statuses.add_row(f"baseline {report.baseline.version}", *_status_row(report.baseline))
    for table in (summary, grades, _actions_table(report), statuses):
        out.print(table)
    difference = report.as_dict()["difference"]
    out.print(
        f"customers acted on only by the candidate: {difference['customers_only_candidate']}; "
        f"only by the baseline: {difference['customers_only_baseline']}",
        highlight=False,
    )


@app.command()
def backtest(
    rules: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Candidate rule file.")],
    events: Annotated[
        Path,
        typer.Option(exists=True, dir_okay=False, help="Event log: JSON Lines or Parquet."),
    ],
    baseline: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="Rule file to compare against.")
    ] = DEFAULT_RULES_PATH,
    bundle: Annotated[
        Path | None,
        typer.Option(
            file_okay=False,
            envvar="RISKSTREAM_DEFAULT_BUNDLE",
            help="Model bundle directory (default: RISKSTREAM_DEFAULT_BUNDLE).",
        ),
    ] = None,
    report_path: Annotated[
        Path | None, typer.Option("--out", dir_okay=False, help="Also write the report as JSON.")
    ] = None,
) -> None:
    """Replay an event log through the features, the model and the rules, and compare."""
    candidate_rules = _load(rules)
    baseline_rules = _load(baseline)
    if bundle is None:
        err.print("no model: give --bundle DIR or set RISKSTREAM_DEFAULT_BUNDLE")
        raise typer.Exit(2)
    try:
        model = load_model(bundle)
    except GateRefusedError as error:
        err.print(f"[red]bundle refused[/red] ({error.code}): {error}", highlight=False)
        raise typer.Exit(1) from error
    try:
        report = run_backtest(read_event_log(events), model, candidate_rules, baseline_rules)
    except EventLogError as error:
        err.print(f"[red]event log[/red] {error}", highlight=False)
        raise typer.Exit(1) from error
    print_report(report)
    if report_path is not None:
        report_path.write_bytes(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2))
        out.print(f"report written to {report_path}", highlight=False)
