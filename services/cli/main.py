"""Entry point of the ``riskstream`` command."""

from __future__ import annotations

import typer

from services.cli import changes, console, decisions, events, features, models, rules, topics
from services.cli.demo import demo_command
from services.cli.report import report_command
from services.cli.simulate import simulate_command
from services.cli.train import train_command

app = typer.Typer(
    name="riskstream",
    help="riskstream: real-time customer credit risk for e-commerce.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(topics.app, name="topics")
app.add_typer(events.app, name="events")
app.add_typer(features.app, name="features")
app.add_typer(rules.app, name="rules")
app.add_typer(models.app, name="model")
app.add_typer(changes.app, name="changes")
app.add_typer(console.app, name="console")
app.add_typer(decisions.app, name="decisions")
app.command("simulate")(simulate_command)
app.command("demo")(demo_command)
app.command("train")(train_command)
app.command("report")(report_command)


if __name__ == "__main__":
    app()
