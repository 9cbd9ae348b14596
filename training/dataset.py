"""Point-in-time training rows from a simulation.

Each customer is observed every ``every_days`` days; the row holds the features replayed from
the events that occurred at or before the observation instant (nothing later), and the label
says whether the first bad outcome falls in the following ``horizon_days``. A customer is not
observed before their first event (not yet a customer) nor after their first bad outcome
(already in default).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from offline.replay import replay_point_in_time
from schemas.features import FEATURE_SCHEMA, to_model_row
from simulator import SimulationResult
from training.errors import TrainingError


@dataclass(frozen=True, slots=True)
class Dataset:
    """Model rows ``x`` (float32 values, NaN for undefined) in ``feature_names`` order, labels
    ``y``, and for each row its customer and observation instant."""

    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.int64]
    customer_ids: tuple[str, ...]
    as_of: tuple[datetime, ...]
    feature_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, mask: npt.NDArray[np.bool_]) -> Dataset:
        """The rows where ``mask`` is true."""
        keep = np.flatnonzero(mask)
        return Dataset(
            x=self.x[keep],
            y=self.y[keep],
            customer_ids=tuple(self.customer_ids[i] for i in keep),
            as_of=tuple(self.as_of[i] for i in keep),
            feature_names=self.feature_names,
        )


@dataclass(frozen=True, slots=True)
class TimeSplit:
    """Train, validation and test sets separated by observation date (test is the latest)."""

    train: Dataset
    validation: Dataset
    test: Dataset


def observation_dates(
    start: datetime, end: datetime, horizon_days: int, every_days: int, warmup_days: int
) -> list[datetime]:
    """Every ``every_days`` days from ``start + warmup_days`` while the label horizon still
    fits before ``end``. The warm-up lets repayment histories form before the first row."""
    dates = []
    as_of = start + timedelta(days=warmup_days)
    while as_of + timedelta(days=horizon_days) <= end:
        dates.append(as_of)
        as_of += timedelta(days=every_days)
    return dates


def as_model_matrix(rows: list[list[float]]) -> npt.NDArray[np.float64]:
    """Rows as float64 holding float32 values: what the float32 ONNX model will see, so that
    LightGBM and ONNX compare the same numbers against their thresholds."""
    return np.asarray(rows, dtype=np.float32).astype(np.float64)


def build_dataset(
    simulation: SimulationResult,
    horizon_days: int = 90,
    every_days: int = 15,
    warmup_days: int = 30,
) -> Dataset:
    """Point-in-time rows for every eligible (customer, observation date)."""
    dates = observation_dates(
        simulation.start, simulation.end, horizon_days, every_days, warmup_days
    )
    if not dates:
        raise TrainingError(
            f"a {horizon_days}-day horizon leaves no observation date in the simulated period"
        )
    first_seen: dict[str, datetime] = {}
    for event in simulation.events:
        first_seen.setdefault(event.customer_id, event.occurred_at)
    observations = [
        (customer_id, as_of)
        for as_of in dates
        for customer_id, first in first_seen.items()
        if first <= as_of
        and ((bad_at := simulation.outcomes[customer_id]) is None or bad_at > as_of)
    ]
    replayed = replay_point_in_time(simulation.events, observations)
    return Dataset(
        x=as_model_matrix([to_model_row(features) for _, _, features in replayed]),
        y=np.asarray(
            [simulation.label(cid, as_of, horizon_days) for cid, as_of, _ in replayed],
            dtype=np.int64,
        ),
        customer_ids=tuple(cid for cid, _, _ in replayed),
        as_of=tuple(as_of for _, as_of, _ in replayed),
        feature_names=FEATURE_SCHEMA.names,
    )


def split_by_time(
    dataset: Dataset, validation_share: float = 0.2, test_share: float = 0.3
) -> TimeSplit:
    """Splits by observation date: the earliest dates train, the next validate, the latest
    test, each share counted in dates (at least one date each). Raises TrainingError with
    fewer than three dates."""
    dates = sorted(set(dataset.as_of))
    if len(dates) < 3:
        raise TrainingError("a time split needs at least three observation dates")
    n_test = max(1, round(len(dates) * test_share))
    n_validation = max(1, round(len(dates) * validation_share))
    n_train = len(dates) - n_test - n_validation
    if n_train < 1:
        n_train, n_validation, n_test = len(dates) - 2, 1, 1
    train_end = dates[n_train - 1]
    validation_end = dates[n_train + n_validation - 1]
    as_of = np.asarray([d.timestamp() for d in dataset.as_of])
    return TimeSplit(
        train=dataset.subset(as_of <= train_end.timestamp()),
        validation=dataset.subset(
            (as_of > train_end.timestamp()) & (as_of <= validation_end.timestamp())
        ),
        test=dataset.subset(as_of > validation_end.timestamp()),
    )
