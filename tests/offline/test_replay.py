"""Offline replay: FeatureReplay, the point-in-time leakage guard, and event log reading."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from offline.errors import EventLogError
from offline.replay import FeatureReplay, read_event_log, replay_point_in_time
from services.features.core import (
    ApplyOutcome,
    AsOfOutOfRangeError,
    CustomerState,
    apply_event,
    compute_features,
)


def mixed_log(events):
    return [
        events.order(events.at(days=-3), "o1", method="bnpl", amount="120", address="a1"),
        events.review(events.at(days=-2), "o1", rating=2, customer_id="c2"),
        events.payment(events.at(days=-2), "o1", kind="repayment", amount="20", days_past_due=4),
        events.refund(events.at(days=-1), "o1", "r1", amount="20", goods_returned=False),
        events.order(events.at(), "o2", amount="55.5", customer_id="c2"),
    ]


def test_replay_gives_what_the_streaming_path_gives(events):
    log = mixed_log(events)
    replay = FeatureReplay()
    online = {"c1": CustomerState.new("c1"), "c2": CustomerState.new("c2")}

    outcomes = [replay.apply(event) for event in log]
    for event in log:
        apply_event(online[event.customer_id], event, event.occurred_at)

    assert outcomes == [ApplyOutcome.APPLIED] * len(log)
    assert set(replay.states()) == {"c1", "c2"}
    for customer_id, state in online.items():
        assert replay.features(customer_id, events.anchor) == compute_features(state, events.anchor)
    assert replay.features("c1", events.anchor)["credit_outstanding"] == 80.0


def test_replay_reads_an_unknown_customer_as_new_and_exposes_states_read_only(events):
    replay = FeatureReplay()
    replay.apply(events.order(events.at(), "o1"))

    assert replay.features("nobody", events.anchor) == compute_features(
        CustomerState.new("nobody"), events.anchor
    )
    with pytest.raises(TypeError):
        replay.states()["c1"] = CustomerState.new("c1")  # type: ignore[index]


def test_replay_refuses_to_read_far_behind_what_it_applied(events):
    replay = FeatureReplay()
    replay.apply(events.order(events.at(), "o1"))

    with pytest.raises(AsOfOutOfRangeError):
        replay.features("c1", events.at(days=-2))


def test_point_in_time_features_see_no_later_event(events):
    before = events.order(events.at(), "o1", amount="10")
    same_instant = events.payment(events.at(), "o1", status="failed")
    one_microsecond_later = events.order(events.at(seconds=0.000001), "o2", amount="99")
    next_day = events.refund(events.at(days=1), "o1", "r1")

    rows = replay_point_in_time(
        [next_day, one_microsecond_later, same_instant, before],
        [("c1", events.at(days=2)), ("c1", events.anchor), ("c2", events.anchor)],
    )

    (late_id, late_at, late), (now_id, now_at, now), (other_id, _, other) = rows
    assert (late_id, late_at, now_id, now_at, other_id) == (
        "c1",
        events.at(days=2),
        "c1",
        events.anchor,
        "c2",
    )
    assert now["orders_count_1h"] == 1.0
    assert now["orders_amount_24h"] == 10.0
    assert now["payments_failed_24h"] == 1.0
    assert now["refunds_count_7d"] == 0.0
    assert late["orders_count_7d"] == 2.0
    assert late["refunds_count_7d"] == 1.0
    assert other["days_since_first_event"] is None


def test_point_in_time_matches_a_full_replay_at_the_end(events):
    log = mixed_log(events)
    replay = FeatureReplay()
    for event in log:
        replay.apply(event)

    [(_, _, features)] = replay_point_in_time(reversed(log), [("c1", events.at(hours=1))])

    assert features == replay.features("c1", events.at(hours=1))


def test_read_event_log_reads_jsonl(events, tmp_path: Path):
    log = mixed_log(events)
    path = tmp_path / "events.jsonl"
    lines = [event.model_dump_json(exclude_none=True) for event in log]
    path.write_text("\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]) + "\n")

    assert list(read_event_log(path)) == log


def test_read_event_log_names_the_bad_line(events, tmp_path: Path):
    good = events.review(events.at(), "o1").model_dump_json()
    bad = good.replace('"rating":5', '"rating":9')
    path = tmp_path / "events.jsonl"
    path.write_text(f"{good}\n{good}\n{bad}\n")

    with pytest.raises(
        EventLogError, match=r"events\.jsonl:3: review\.rating: .*less than or equal to 5"
    ):
        list(read_event_log(path))


def test_read_event_log_names_a_line_that_is_not_json(tmp_path: Path):
    path = tmp_path / "events.jsonl"
    path.write_text("{not json\n")

    with pytest.raises(EventLogError, match=r"events\.jsonl:1: .*JSON"):
        list(read_event_log(path))


def _write_parquet(rows: list[dict[str, object]], path: Path) -> None:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    types = {
        "amount": pa.float64(),
        "item_count": pa.int64(),
        "days_past_due": pa.int64(),
        "schema_version": pa.int64(),
        "rating": pa.int64(),
        "goods_returned": pa.bool_(),
        "flagged_abusive": pa.bool_(),
    }
    schema = pa.schema([(name, types.get(name, pa.string())) for name in columns])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), str(path))


def test_read_event_log_reads_parquet(events, tmp_path: Path):
    log = mixed_log(events)
    path = tmp_path / "events.parquet"
    _write_parquet([event.model_dump(mode="json", exclude_none=True) for event in log], path)

    assert list(read_event_log(path)) == log


def test_read_event_log_names_the_bad_parquet_row(events, tmp_path: Path):
    rows = [event.model_dump(mode="json", exclude_none=True) for event in mixed_log(events)]
    rows[1]["occurred_at"] = "yesterday"
    path = tmp_path / "events.parquet"
    _write_parquet(rows, path)

    with pytest.raises(EventLogError, match=r"events\.parquet: row 2: review\.occurred_at"):
        list(read_event_log(path))
