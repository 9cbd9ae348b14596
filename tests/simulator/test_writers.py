from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from offline.replay import read_event_log
from schemas.events import parse_trusted_event
from simulator import simulate

START = datetime(2025, 9, 1, tzinfo=UTC)


def test_jsonl_and_parquet_round_trip_to_the_same_events(tmp_path: Path) -> None:
    small = simulate(customers=30, days=60, seed=5, start=START)
    small.write_jsonl(tmp_path / "events.jsonl")
    lines = (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert [parse_trusted_event(line) for line in lines] == small.events

    small.write_parquet(tmp_path / "events.parquet")
    rows = pq.read_table(tmp_path / "events.parquet").to_pylist()
    parsed = [
        parse_trusted_event(json.dumps({k: v for k, v in row.items() if v is not None}))
        for row in rows
    ]
    assert parsed == small.events


def test_the_feature_core_reads_both_log_formats(tmp_path: Path) -> None:
    small = simulate(customers=20, days=45, seed=8, start=START)
    small.write_jsonl(tmp_path / "events.jsonl")
    small.write_parquet(tmp_path / "events.parquet")
    assert list(read_event_log(tmp_path / "events.jsonl")) == small.events
    assert list(read_event_log(tmp_path / "events.parquet")) == small.events
