"""``riskstream simulate``: a deterministic population of customers (see docs/model.md),
written to JSONL or Parquet, or streamed into the platform at a target rate."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import Progress

from schemas.scores import MAX_BATCH
from services.cli.sending import Pacer, batches, open_sender
from services.cli.settings import CliSettings

if TYPE_CHECKING:
    from simulator import SimulationResult

console = Console(stderr=True)


def _write_labels(result: SimulationResult, path: Path) -> None:
    """One JSON object per customer: the first bad outcome's instant, or null."""
    with path.open("wb") as out:
        for customer_id, bad_at in sorted(result.outcomes.items()):
            row = {"customer_id": customer_id, "bad_at": bad_at.isoformat() if bad_at else None}
            out.write(orjson.dumps(row) + b"\n")


async def _stream(
    result: SimulationResult, direct: bool, rate: float | None, batch_size: int
) -> Counter[str]:
    settings = CliSettings()
    totals: Counter[str] = Counter()
    pacer = Pacer(rate)
    async with open_sender(settings, direct) as sender:
        with Progress(console=console) as progress:
            task = progress.add_task("streaming", total=len(result.events))
            for batch in batches(result.events, batch_size):
                await pacer.wait(len(batch))
                raw = [event.model_dump(mode="json", exclude_none=True) for event in batch]
                for answer in await sender.send(raw):
                    totals[answer["status"]] += 1
                progress.advance(task, len(batch))
    return totals


def simulate_command(
    customers: Annotated[int, typer.Option(min=1, help="How many customers.")] = 1000,
    days: Annotated[int, typer.Option(min=1, max=3650, help="Days of history.")] = 120,
    seed: Annotated[int, typer.Option(help="Same seed, same events.")] = 7,
    end: Annotated[
        datetime | None, typer.Option(help="Last instant of the history (default: now).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the events to FILE (.jsonl or .parquet).")
    ] = None,
    labels: Annotated[
        Path | None, typer.Option(help="Write each customer's first bad outcome (JSONL).")
    ] = None,
    send: Annotated[
        bool, typer.Option("--send", help="Stream the events into the platform.")
    ] = False,
    direct: Annotated[
        bool, typer.Option("--direct", help="With --send: straight to Kafka.")
    ] = False,
    rate: Annotated[
        float | None, typer.Option(min=1, help="With --send: events per second.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=MAX_BATCH)] = 200,
) -> None:
    """Simulate customers' order, payment, refund and review events."""
    if out is None and not send:
        raise typer.BadParameter("give --out FILE, --send, or both")
    # Imported here so that other commands and --help do not load the simulation code.
    from simulator import simulate

    finish = (end or datetime.now(UTC)).astimezone(UTC)
    result = simulate(
        customers=customers, days=days, seed=seed, start=finish - timedelta(days=days)
    )
    console.print(
        f"simulated {len(result.events)} events for {customers} customers over {days} days"
    )
    if out is not None:
        if out.suffix in (".parquet", ".pq"):
            result.write_parquet(out)
        else:
            result.write_jsonl(out)
        console.print(f"wrote {out}")
    if labels is not None:
        _write_labels(result, labels)
        console.print(f"wrote {labels}")
    if send:
        totals = asyncio.run(_stream(result, direct, rate, batch_size))
        console.print(
            f"accepted {totals['accepted']}, rejected {totals['rejected']}, "
            f"unavailable {totals['unavailable']}"
        )
        if totals["rejected"] or totals["unavailable"]:
            raise typer.Exit(1)
