from pathlib import Path

import orjson
from typer.testing import CliRunner

from schemas.events import parse_trusted_event
from services.cli.main import app
from services.cli.sending import Pacer, batches


def test_simulate_writes_valid_events_and_labels(tmp_path: Path) -> None:
    out, labels = tmp_path / "events.jsonl", tmp_path / "labels.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--customers",
            "20",
            "--days",
            "20",
            "--seed",
            "3",
            "--out",
            str(out),
            "--labels",
            str(labels),
        ],
    )
    assert result.exit_code == 0, result.output
    events = [parse_trusted_event(line) for line in out.read_text().splitlines()]
    assert events
    rows = [orjson.loads(line) for line in labels.read_text().splitlines()]
    assert len(rows) == 20
    assert {e.customer_id for e in events} <= {r["customer_id"] for r in rows}


def test_simulate_needs_somewhere_to_put_the_events() -> None:
    result = CliRunner().invoke(app, ["simulate", "--customers", "2"])
    assert result.exit_code != 0


def test_batches_split_in_order() -> None:
    assert list(batches(range(5), 2)) == [[0, 1], [2, 3], [4]]


async def test_a_paced_sender_holds_the_rate() -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    pacer = Pacer(1000.0)
    started = loop.time()
    for _ in range(5):
        await pacer.wait(20)
    assert loop.time() - started >= 0.08  # 100 events at 1,000/s: at least 80 ms after the first
