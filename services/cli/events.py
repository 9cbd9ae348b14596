"""``riskstream events send FILE.jsonl``: through the gateway or straight to Kafka.

Both paths apply the same validation (:class:`services.ingest.core.EventGateway`); the
summary counts accepted, rejected and unavailable events and the exit code is 1 when any
event was not accepted.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer
from rich.console import Console
from rich.progress import Progress

from schemas.scores import MAX_BATCH
from services.cli.settings import CliSettings
from services.common.clock import SystemClock
from services.common.kafka import wait_for_kafka
from services.ingest.core import EventGateway, Outcome
from services.ingest.publisher import KafkaEventPublisher

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


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while batch := list(islice(items, size)):
        yield batch


async def _send_http(
    settings: CliSettings, batch: list[Any], http: httpx.AsyncClient
) -> list[dict[str, Any]]:
    response = await http.post(
        f"{settings.ingest_url}/v1/events:batch",
        content=orjson.dumps({"events": batch}),
        headers={
            "Authorization": f"Bearer {settings.api_key.get_secret_value()}",
            "Content-Type": "application/json",
        },
    )
    if response.status_code not in (202, 207, 503):
        raise typer.BadParameter(f"gateway answered {response.status_code}: {response.text[:300]}")
    results: list[dict[str, Any]] = response.json()["results"]
    return results


async def _send(path: Path, direct: bool, batch_size: int) -> Counter[str]:
    settings = CliSettings()
    totals: Counter[str] = Counter()
    shown = 0
    publisher: KafkaEventPublisher | None = None
    gateway: EventGateway | None = None
    if direct:
        await wait_for_kafka(settings, timeout_s=30)
        publisher = KafkaEventPublisher(settings, produce_timeout_s=10)
        await publisher.start()
        await publisher.wait_connected(timeout_s=30)
        gateway = EventGateway(publisher, settings.topics, SystemClock())
    total_lines = sum(1 for line in path.open("rb") if line.strip())
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            with Progress(console=console, transient=False) as progress:
                task = progress.add_task(f"sending {path.name}", total=total_lines)
                for batch in _batches(_read_lines(path), batch_size):
                    if gateway is not None:
                        results = [r.as_dict() for r in await gateway.submit(batch)]
                    else:
                        results = await _send_http(settings, batch, http)
                    for result in results:
                        totals[result["status"]] += 1
                        if result["status"] != Outcome.ACCEPTED and shown < 10:
                            shown += 1
                            errors = result.get("errors", "")
                            console.print(
                                f"[yellow]{result.get('event_id')!r}: {result['status']} {errors}"
                            )
                    progress.advance(task, len(batch))
    finally:
        if publisher is not None:
            await publisher.stop()
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
