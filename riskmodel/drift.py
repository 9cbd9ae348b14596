"""Drift: the population stability index (PSI) of what the model sees in service against
the training distributions in its bundle, over a rolling window of the latest rows.

``PSI = sum((actual - expected) * ln(actual / expected))`` over the bins of the training
distribution, undefined values forming a bin of their own. A share of zero is floored at
:data:`SHARE_FLOOR` so an empty bin gives a large but finite index. Training measures the
test set's stability and the scorer its rolling window with the same bins and the same
:func:`population_stability`. Common reading: below 0.1 stable, 0.1 to 0.25 a moderate
shift, above 0.25 a shift worth investigating.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from riskmodel.manifest import DRIFT_SCORE, TrainingDistribution

SHARE_FLOOR = 1e-4


def bin_of(distribution: TrainingDistribution, value: float) -> int:
    """The bin of ``value``: ``0..len(edges)``, or ``len(edges) + 1`` (the missing bin)
    for NaN."""
    if math.isnan(value):
        return len(distribution.edges) + 1
    return bisect_right(distribution.edges, value)


def expected_shares(distribution: TrainingDistribution) -> list[float]:
    """The training shares of every bin, the missing bin last."""
    return [*distribution.shares, distribution.missing_share]


def training_distribution(name: str, values: npt.ArrayLike, bins: int = 10) -> TrainingDistribution:
    """The drift baseline of one variable: ``bins`` quantile bins of its finite values,
    each bin's share, and the share of NaN values."""
    v = np.asarray(values, dtype=np.float64)
    missing = np.isnan(v)
    finite = v[~missing]
    inner: list[float] = []
    if len(finite):
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)))
        inner = [float(e) for e in edges[1:-1]]
    counts = np.bincount(np.searchsorted(inner, finite, side="right"), minlength=len(inner) + 1)
    total = max(len(v), 1)
    return TrainingDistribution(
        name=name,
        edges=inner,
        shares=[float(c) / total for c in counts],
        missing_share=float(missing.sum()) / total,
    )


def sample_shares(distribution: TrainingDistribution, values: npt.ArrayLike) -> list[float]:
    """The share of ``values`` in each of the distribution's bins, the missing bin last."""
    v = np.asarray(values, dtype=np.float64)
    missing = np.isnan(v)
    counts = np.bincount(
        np.searchsorted(distribution.edges, v[~missing], side="right"),
        minlength=len(distribution.edges) + 1,
    )
    total = max(len(v), 1)
    return [*(float(c) / total for c in counts), float(missing.sum()) / total]


def sample_stability(expected: npt.ArrayLike, actual: npt.ArrayLike, bins: int = 10) -> float:
    """PSI of the sample ``actual`` against the sample ``expected``, over ``bins`` quantile
    bins of ``expected`` (see :func:`training_distribution`)."""
    distribution = training_distribution("sample", expected, bins)
    return population_stability(expected_shares(distribution), sample_shares(distribution, actual))


def population_stability(expected: Sequence[float], actual: Sequence[float]) -> float:
    """PSI of ``actual`` shares against ``expected`` shares (same bins, same order); each
    share is floored at :data:`SHARE_FLOOR`. ValueError when the lengths differ."""
    if len(expected) != len(actual):
        raise ValueError(f"{len(actual)} actual shares for {len(expected)} expected bins")
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, SHARE_FLOOR), max(a, SHARE_FLOOR)
        total += (a - e) * math.log(a / e)
    return total


class RollingHistogram:
    """Counts of the last ``window`` values over one training distribution's bins."""

    def __init__(self, distribution: TrainingDistribution, window: int) -> None:
        if window < 1:
            raise ValueError("window must hold at least one value")
        self.distribution = distribution
        self._expected = expected_shares(distribution)
        self._bins: deque[int] = deque()
        self._counts = [0] * len(self._expected)
        self._window = window

    def __len__(self) -> int:
        return len(self._bins)

    def add(self, value: float) -> None:
        """Counts ``value``; once the window is full the oldest value leaves it."""
        index = bin_of(self.distribution, value)
        self._bins.append(index)
        self._counts[index] += 1
        if len(self._bins) > self._window:
            self._counts[self._bins.popleft()] -= 1

    def shares(self) -> list[float]:
        """The window's share of each bin, the missing bin last (all zero when empty)."""
        count = len(self._bins)
        return [c / count if count else 0.0 for c in self._counts]

    def psi(self) -> float:
        """PSI of the window against the training distribution."""
        return population_stability(self._expected, self.shares())


class DriftMonitor:
    """Rolling PSI of the score and of each model input that has a training distribution.

    ``observe`` takes one scored row; ``psi`` reports only once the window holds
    ``min_rows`` rows, since an index over a handful of rows is noise.
    """

    def __init__(
        self,
        distributions: Sequence[TrainingDistribution],
        feature_names: Sequence[str],
        window: int,
        min_rows: int,
    ) -> None:
        if not 1 <= min_rows <= window:
            raise ValueError("min_rows must be between 1 and window")
        self._min_rows = min_rows
        by_name = {d.name: d for d in distributions}
        score = by_name.get(DRIFT_SCORE)
        self._score = RollingHistogram(score, window) if score is not None else None
        self._features = [
            (column, RollingHistogram(by_name[name], window))
            for column, name in enumerate(feature_names)
            if name in by_name
        ]

    def observe(self, score: float, row: Sequence[float]) -> None:
        """Adds one scored row: its score and its model inputs in manifest order."""
        if self._score is not None:
            self._score.add(score)
        for column, histogram in self._features:
            histogram.add(row[column])

    def psi(self) -> Mapping[str, float]:
        """PSI by variable (``score`` and feature names); empty until ``min_rows`` rows."""
        histograms = [h for _, h in self._features]
        if self._score is not None:
            histograms.insert(0, self._score)
        return {h.distribution.name: h.psi() for h in histograms if len(h) >= self._min_rows}
