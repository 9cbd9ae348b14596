"""``riskstream events send FILE.jsonl``: through the gateway or straight to Kafka.

Both paths apply the same validation (:class:`services.ingest.core.EventGateway`); the
summary counts accepted, rejected and unavailable events and the exit code is 1 when any
event was not accepted.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import Progress

from schemas.scores import MAX_BATCH
from services.cli.sending import batches, open_sender
from services.cli.settings import CliSettings
from services.ingest.core import Outcome

app = typer.Typer(help="Send business events into the platform.", no_args_is_help=True)
console = Console(stderr=True)


def _read_lines(path: Path) -> Iterator[Any]:
    """Decoded JSON per non-empty line; a line that is not JSON is passed on as its text so
    the gateway rejects it with a reason instead of the command dying."""
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                try:
                    yield orjson.loads(line)
                except orjson.JSONDecodeError:
                    yield line.decode("utf-8", errors="replace").strip()


async def _send(path: Path, direct: bool, batch_size: int) -> Counter[str]:
    settings = CliSettings()
    totals: Counter[str] = Counter()
    shown = 0
    total_lines = sum(1 for line in path.open("rb") if line.strip())
    async with open_sender(settings, direct) as sender:
        with Progress(console=console, transient=False) as progress:
            task = progress.add_task(f"sending {path.name}", total=total_lines)
            for batch in batches(_read_lines(path), batch_size):
                for result in await sender.send(batch):
                    totals[result["status"]] += 1
                    if result["status"] != Outcome.ACCEPTED and shown < 10:
                        shown += 1
                        errors = result.get("errors", "")
                        console.print(
                            f"[yellow]{result.get('event_id')!r}: {result['status']} {errors}"
                        )
                progress.advance(task, len(batch))
    return totals


@app.command()
def send(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="JSONL, one event a line.")
    ],
    direct: Annotated[bool, typer.Option("--direct", help="Produce straight to Kafka.")] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, max=MAX_BATCH, help="Events per request.")
    ] = 500,
) -> None:
    """Send a file of events and print how many were accepted and rejected."""
    totals = asyncio.run(_send(file, direct, batch_size))
    console.print(
        f"accepted {totals[Outcome.ACCEPTED]}, rejected {totals[Outcome.REJECTED]}, "
        f"unavailable {totals[Outcome.UNAVAILABLE]}"
    )
    if totals[Outcome.REJECTED] or totals[Outcome.UNAVAILABLE]:
        raise typer.Exit(1)
