"""Event log writers: JSON Lines and Parquet, in the formats the feature core's
``read_event_log`` reads back."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.events import InboundEvent


def write_jsonl(events: Iterable[InboundEvent], path: str | Path) -> None:
    """Writes events as JSON Lines, one contract-valid event per line."""
    with Path(path).open("w", encoding="utf-8") as out:
        for event in events:
            out.write(event.model_dump_json(exclude_none=True))
            out.write("\n")


def write_parquet(events: Iterable[InboundEvent], path: str | Path) -> None:
    """Writes events as one Parquet table: a column per contract field (null where an event
    type lacks it), amounts as float64 and instants as RFC 3339 strings, so each row read back
    with its nulls dropped parses as the same event."""
    rows = [event.model_dump(mode="json", exclude_none=True) for event in events]
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    table = pa.Table.from_pylist(rows, schema=_parquet_schema(columns))
    pq.write_table(table, str(path))


def _parquet_schema(columns: Iterable[str]) -> pa.Schema:
    types = {
        "amount": pa.float64(),
        "item_count": pa.int64(),
        "days_past_due": pa.int64(),
        "instalment_no": pa.int64(),
        "schema_version": pa.int64(),
        "rating": pa.int64(),
        "goods_returned": pa.bool_(),
        "flagged_abusive": pa.bool_(),
        "score": pa.float64(),
        "scale_min": pa.float64(),
        "scale_max": pa.float64(),
        "delinquencies": pa.int64(),
        "inquiries_6m": pa.int64(),
        "contact_hashes": pa.list_(
            pa.struct([("kind", pa.string()), ("key_id", pa.string()), ("hash", pa.string())])
        ),
    }
    return pa.schema([(name, types.get(name, pa.string())) for name in columns])
