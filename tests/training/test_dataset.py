from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from offline.replay import replay_point_in_time
from schemas.features import to_model_row
from simulator import SimulationResult, simulate
from training.dataset import build_dataset, observation_dates, split_by_time
from training.errors import TrainingError

START = datetime(2025, 4, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def simulation() -> SimulationResult:
    return simulate(customers=120, days=150, seed=21, start=START)


def test_observation_dates_leave_room_for_the_label_horizon() -> None:
    dates = observation_dates(START, START + timedelta(days=150), 90, 15, 30)
    assert [(d - START).days for d in dates] == [30, 45, 60]


def test_no_row_sees_an_event_after_its_observation_date(simulation: SimulationResult) -> None:
    dataset = build_dataset(simulation, horizon_days=90, every_days=15)
    as_of = sorted(set(dataset.as_of))[1]
    mask = np.asarray([a == as_of for a in dataset.as_of])
    rows = dataset.subset(mask)
    # Replaying only the past must give the very same rows: later events changed nothing.
    past_only = [e for e in simulation.events if e.occurred_at <= as_of]
    replayed = replay_point_in_time(past_only, [(cid, as_of) for cid in rows.customer_ids])
    expected = np.asarray([to_model_row(f) for _, _, f in replayed], dtype=np.float32)
    np.testing.assert_array_equal(rows.x, expected.astype(np.float64))
    assert any(e.occurred_at > as_of for e in simulation.events)


def test_rows_skip_customers_not_yet_seen_or_already_bad(simulation: SimulationResult) -> None:
    dataset = build_dataset(simulation, horizon_days=90, every_days=15)
    first_seen: dict[str, datetime] = {}
    for event in simulation.events:
        first_seen.setdefault(event.customer_id, event.occurred_at)
    for customer_id, as_of in zip(dataset.customer_ids, dataset.as_of, strict=True):
        assert first_seen[customer_id] <= as_of
        bad_at = simulation.outcomes[customer_id]
        assert bad_at is None or bad_at > as_of


def test_labels_come_from_the_simulated_outcomes(simulation: SimulationResult) -> None:
    dataset = build_dataset(simulation, horizon_days=90, every_days=15)
    expected = [
        simulation.label(cid, as_of, 90)
        for cid, as_of in zip(dataset.customer_ids, dataset.as_of, strict=True)
    ]
    assert dataset.y.tolist() == expected
    assert 0 < dataset.y.mean() < 1


def test_time_split_keeps_the_latest_dates_for_test(simulation: SimulationResult) -> None:
    dataset = build_dataset(simulation, horizon_days=60, every_days=10)
    split = split_by_time(dataset)
    assert max(split.train.as_of) < min(split.validation.as_of)
    assert max(split.validation.as_of) < min(split.test.as_of)
    assert len(split.train) + len(split.validation) + len(split.test) == len(dataset)


def test_a_horizon_longer_than_the_period_is_refused(simulation: SimulationResult) -> None:
    with pytest.raises(TrainingError, match="no observation date"):
        build_dataset(simulation, horizon_days=140)
