"""``riskstream demo``: simulated customers streamed through the running platform, with
events per second, grade mix, the latest actions and their reasons, and event-to-action
latency shown live; a summary and where to look next at the end."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated

import orjson
import typer
from aiokafka import AIOKafkaConsumer
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from schemas.scores import GRADES
from services.cli.sending import Pacer, batches, open_sender
from services.cli.settings import CliSettings
from services.common.kafka import client_kwargs
from services.common.topics import Topic
from services.console.settings import DEVELOPMENT_PASSWORD

console = Console()


def percentile(values: list[float], fraction: float) -> float | None:
    """The value below which ``fraction`` of ``values`` fall (nearest rank); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass
class DemoStats:
    """What the demo has seen; fed by the sender and the two topic readers."""

    started: float = field(default_factory=time.monotonic)
    sent_at: dict[str, float] = field(default_factory=dict)
    accepted: int = 0
    rejected: int = 0
    scores: int = 0
    grades: Counter[str] = field(default_factory=Counter)
    latest_grade: dict[str, str] = field(default_factory=dict)
    actions: Counter[str] = field(default_factory=Counter)
    recent_actions: deque[tuple[str, str, str, str]] = field(
        default_factory=lambda: deque(maxlen=8)
    )
    action_latency_s: list[float] = field(default_factory=list)
    score_latency_s: list[float] = field(default_factory=list)

    def on_sent(self, event_ids: list[str], statuses: list[str], at: float) -> None:
        for event_id, status in zip(event_ids, statuses, strict=True):
            if status == "accepted":
                self.accepted += 1
                self.sent_at[event_id] = at
            else:
                self.rejected += 1

    def on_score(self, record: dict[str, object], at: float) -> None:
        self.scores += 1
        self.latest_grade[str(record["customer_id"])] = str(record["grade"])
        sent = self.sent_at.get(str(record.get("triggered_by")))
        if sent is not None:
            self.score_latency_s.append(at - sent)

    def on_action(self, action: dict[str, object], at: float) -> None:
        self.actions[str(action["action"])] += 1
        self.recent_actions.appendleft(
            (
                str(action["customer_id"]),
                str(action["action"]),
                str(action["severity"]),
                str(action["reason"]),
            )
        )
        sent = self.sent_at.get(str(action.get("triggered_by")))
        if sent is not None:
            self.action_latency_s.append(at - sent)

    def grade_mix(self) -> Counter[str]:
        return Counter(self.latest_grade.values())

    def render(self) -> Group:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        head = Table.grid(padding=(0, 3))
        head.add_row(
            f"events sent [bold]{self.accepted}[/] ({self.accepted / elapsed:.0f}/s)",
            f"rejected [bold]{self.rejected}[/]",
            f"scores [bold]{self.scores}[/]",
            f"actions [bold]{sum(self.actions.values())}[/]",
        )
        p50, p99 = percentile(self.action_latency_s, 0.5), percentile(self.action_latency_s, 0.99)
        s50 = percentile(self.score_latency_s, 0.5)
        head.add_row(
            f"event→score p50 {_ms(s50)}",
            f"event→action p50 {_ms(p50)}",
            f"p99 {_ms(p99)}",
            "",
        )
        mix = self.grade_mix()
        grades = Table("grade", "customers", "share", title="grade mix (latest per customer)")
        total = sum(mix.values()) or 1
        for grade in GRADES:
            grades.add_row(grade, str(mix[grade]), f"{mix[grade] / total:.0%}")
        recent = Table("customer", "action", "severity", "reason", title="latest actions")
        for customer, action, severity, reason in self.recent_actions:
            colour = {"red": "red", "yellow": "yellow"}.get(severity, "green")
            recent.add_row(customer, f"[{colour}]{action}[/]", severity, reason[:70])
        return Group(Panel(head, title="riskstream demo"), grades, recent)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


async def _follow(
    settings: CliSettings, topic: Topic, stats: DemoStats, ready: asyncio.Event, stop: asyncio.Event
) -> None:
    """Reads ``topic`` from its end as of start-up (no consumer group) until ``stop``;
    sets ``ready`` once positioned, so no record produced afterwards is missed."""
    consumer = AIOKafkaConsumer(
        settings.topics(topic), **client_kwargs(settings), group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        while not consumer.assignment():  # noqa: ASYNC110 (no event exists for a group-less assignment)
            await asyncio.sleep(0.05)
        await consumer.seek_to_end()
        for partition in consumer.assignment():
            await consumer.position(partition)
        ready.set()
        while not stop.is_set():
            for messages in (await consumer.getmany(timeout_ms=200)).values():
                for message in messages:
                    record = orjson.loads(message.value or b"{}")
                    at = time.monotonic()
                    if topic is Topic.SCORES:
                        stats.on_score(record, at)
                    else:
                        stats.on_action(record, at)
    finally:
        await consumer.stop()


async def _run(customers: int, days: int, seed: int, rate: float, drain_s: float) -> DemoStats:
    # Imported here so that other commands and --help do not load the simulation code.
    from simulator import simulate

    settings = CliSettings()
    stats = DemoStats()
    stop = asyncio.Event()
    positioned = [asyncio.Event(), asyncio.Event()]
    readers = [
        asyncio.create_task(_follow(settings, topic, stats, ready, stop))
        for topic, ready in zip((Topic.SCORES, Topic.ACTIONS), positioned, strict=True)
    ]
    await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in positioned)), timeout=30)
    now = datetime.now(UTC)
    result = simulate(customers=customers, days=days, seed=seed, start=now - timedelta(days=days))
    pacer = Pacer(rate)
    with Live(stats.render(), console=console, refresh_per_second=4) as live:
        async with open_sender(settings, direct=False) as sender:
            for batch in batches(result.events, 100):
                await pacer.wait(len(batch))
                answers = await sender.send(
                    [e.model_dump(mode="json", exclude_none=True) for e in batch]
                )
                stats.on_sent(
                    [e.event_id for e in batch], [a["status"] for a in answers], time.monotonic()
                )
                live.update(stats.render())
        quiet_since = time.monotonic()
        seen = stats.scores
        while time.monotonic() - quiet_since < drain_s:
            await asyncio.sleep(0.25)
            if stats.scores != seen:
                seen, quiet_since = stats.scores, time.monotonic()
            live.update(stats.render())
    stop.set()
    for reader in readers:
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    return stats


def demo_command(
    customers: Annotated[int, typer.Option(min=1, help="Simulated customers.")] = 400,
    days: Annotated[int, typer.Option(min=7, help="Days of history per customer.")] = 90,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Simulation seed (default: a new one, so each run brings new customers)."
        ),
    ] = None,
    rate: Annotated[float, typer.Option(min=1, help="Events per second into the gateway.")] = 500,
    drain_s: Annotated[float, typer.Option(min=0, help="Seconds of quiet that end the demo.")] = 5,
) -> None:
    """Stream simulated customers through the running platform and show what it decides."""
    # Customer ids carry the seed: a new seed means customers the platform has not judged yet.
    run_seed = seed if seed is not None else secrets.randbelow(1_000_000)
    stats = asyncio.run(_run(customers, days, run_seed, rate, drain_s))
    settings = CliSettings()
    by_type = ", ".join(f"{k} {v}" for k, v in stats.actions.most_common()) or "none"
    console.print(
        Panel.fit(
            f"seed {run_seed}: {stats.accepted} events in, {stats.scores} scores, "
            f"{sum(stats.actions.values())} actions ({by_type})\n"
            f"event→action latency p50 {_ms(percentile(stats.action_latency_s, 0.5))}, "
            f"p99 {_ms(percentile(stats.action_latency_s, 0.99))}\n\n"
            "Where to look next:\n"
            f"  score API docs     {settings.scorer_url}/docs\n"
            f"  warning API docs   {settings.warning_url}/docs\n"
            f"  ingest API docs    {settings.ingest_url}/docs\n"
            "  metrics            /metrics on ports 8001, 8002, 8003, 8004 and 6066\n"
            "  Prometheus         http://127.0.0.1:9090 (dashboards: deploy/grafana)\n"
            "  portfolio report   riskstream report --from <date> --to <date>\n"
            "  a customer         riskstream features show <id>, GET /v1/customers/<id>/risk\n"
            "  stop the platform  make down",
            title="summary",
        )
    )
    console.print(
        Panel.fit(
            f"{settings.console_url}\n"
            f"sign in as analyst, approver or admin, password {DEVELOPMENT_PASSWORD}\n"
            "(development accounts; a production console refuses them)",
            title="the risk team's console",
        )
    )
