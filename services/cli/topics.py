"""``riskstream topics create|describe``."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.table import Table

from services.cli.settings import CliSettings
from services.common.kafka import describe_topics, ensure_topics

app = typer.Typer(help="Kafka topics of the platform.", no_args_is_help=True)
console = Console()


@app.command()
def create() -> None:
    """Create every platform topic that does not exist yet (idempotent)."""
    settings = CliSettings()
    created = asyncio.run(ensure_topics(settings))
    console.print(
        f"created {len(created)} topic(s)" + (f": {', '.join(created)}" if created else "")
    )


@app.command()
def describe() -> None:
    """Show each platform topic and its partition count."""
    settings = CliSettings()
    found = asyncio.run(describe_topics(settings))
    table = Table("topic", "partitions", "expected")
    missing = 0
    for spec in settings.topics.specs(settings.event_partitions):
        partitions = found.get(spec.name)
        missing += partitions is None
        table.add_row(
            spec.name, "missing" if partitions is None else str(partitions), str(spec.partitions)
        )
    console.print(table)
    if missing:
        raise typer.Exit(1)
