"""Reason codes from the bundle alone, fast enough for the synchronous path.

The bundle's reason table holds the model's trees flattened into arrays and, for every leaf,
the per-feature contribution along the path from the root (Saabas): each split moves the
node value from parent to child, and that change is credited to the split's feature. For a
row, the contributions of the leaves it reaches (one per tree) add up to its raw log-odds
minus ``expected_value``. Finding the leaves is a walk of all trees at once, one level per
step, in numpy.

Saabas contributions approximate exact TreeSHAP; the training report measures how often
their top reasons agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from riskmodel.errors import BundleError
from riskmodel.manifest import ReasonCodeSpec
from schemas.scores import ReasonCode

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int32]

TABLE_ARRAYS = (
    "feature",
    "threshold",
    "nan_left",
    "left",
    "right",
    "leaf_slot",
    "roots",
    "contributions",
    "leaf_value",
    "expected_value",
)


@dataclass(frozen=True, slots=True, eq=False)
class ReasonTable:
    """Flattened trees and per-leaf contributions.

    Node arrays (one entry per node of every tree): ``feature`` split feature, ``threshold``
    (a row goes left when ``value <= threshold``), ``nan_left`` (where NaN goes), ``left`` and
    ``right`` children, ``leaf_slot`` (row of ``contributions``/``leaf_value`` for a leaf, -1
    for a split). A leaf is its own child, so walking ``depth`` steps from ``roots`` ends on a
    leaf in every tree.

    Derived when the table is built, for speed: ``depth``; ``input_index`` and
    ``split_threshold``, which fold NaN handling into one comparison (a row is extended to
    ``[row with NaN as -inf, row with NaN as +inf]`` and node ``i`` goes right when
    ``extended[input_index[i]] > split_threshold[i]``); and ``sparse_feature`` /
    ``sparse_value``, each leaf's non-zero contributions (a path touches at most ``depth``
    features).
    """

    feature: IntArray
    threshold: FloatArray
    nan_left: npt.NDArray[np.bool_]
    left: IntArray
    right: IntArray
    leaf_slot: IntArray
    roots: IntArray
    contributions: FloatArray
    leaf_value: FloatArray
    expected_value: float
    depth: int
    input_index: IntArray
    split_threshold: FloatArray
    sparse_feature: IntArray
    sparse_value: FloatArray

    @property
    def n_features(self) -> int:
        return int(self.contributions.shape[1])

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[np.generic]]) -> ReasonTable:
        """Builds and checks a table; raises BundleError when an array is missing or the
        arrays do not describe well-formed trees."""
        missing = [name for name in TABLE_ARRAYS if name not in arrays]
        if missing:
            raise BundleError(f"reason table lacks {', '.join(missing)}")
        feature = np.asarray(arrays["feature"], dtype=np.int32)
        nodes = len(feature)
        left = np.asarray(arrays["left"], dtype=np.int32)
        right = np.asarray(arrays["right"], dtype=np.int32)
        leaf_slot = np.asarray(arrays["leaf_slot"], dtype=np.int32)
        contributions = np.asarray(arrays["contributions"], dtype=np.float64)
        leaf_value = np.asarray(arrays["leaf_value"], dtype=np.float64)
        roots = np.asarray(arrays["roots"], dtype=np.int32)
        node_arrays = (arrays["threshold"], arrays["nan_left"], left, right, leaf_slot)
        if any(len(a) != nodes for a in node_arrays) or contributions.ndim != 2:
            raise BundleError("reason table node arrays differ in length")
        if nodes == 0 or len(roots) == 0:
            raise BundleError("reason table has no trees")
        for children in (left, right, roots):
            if children.min() < 0 or children.max() >= nodes:
                raise BundleError("reason table has a child outside the node arrays")
        if leaf_slot.max() >= len(contributions) or len(leaf_value) != len(contributions):
            raise BundleError("reason table leaf slots do not match its contributions")
        if feature.min() < 0 or feature.max() >= contributions.shape[1]:
            raise BundleError("reason table splits on a feature it has no column for")
        is_leaf = leaf_slot >= 0
        if not np.array_equal(left[is_leaf], np.flatnonzero(is_leaf)):
            raise BundleError("reason table leaves must be their own children")
        threshold = np.asarray(arrays["threshold"], dtype=np.float64)
        nan_left = np.asarray(arrays["nan_left"], dtype=np.bool_)
        # Finite thresholds keep "+inf > threshold" true, so NaN sent right always goes right.
        largest = np.finfo(np.float64).max
        nonzero = contributions != 0
        width = max(1, int(nonzero.sum(axis=1).max(initial=0)))
        order = np.argsort(~nonzero, axis=1, kind="stable")[:, :width]
        return cls(
            feature=feature,
            threshold=threshold,
            nan_left=nan_left,
            left=left,
            right=right,
            leaf_slot=leaf_slot,
            roots=roots,
            contributions=contributions,
            leaf_value=leaf_value,
            expected_value=float(np.asarray(arrays["expected_value"]).reshape(-1)[0]),
            depth=_depth(roots, left, right, leaf_slot),
            input_index=(feature + contributions.shape[1] * ~nan_left).astype(np.int32),
            split_threshold=np.clip(threshold, -largest, largest),
            sparse_feature=order.astype(np.int32),
            sparse_value=np.take_along_axis(contributions, order, axis=1),
        )

    @classmethod
    def load(cls, path: str | Path) -> ReasonTable:
        """Reads a table written by :meth:`save` (a ``.npz`` without pickles)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls.from_arrays({name: data[name] for name in data.files})
        except (OSError, ValueError) as error:
            raise BundleError(f"cannot read reason table {path}: {error}") from error

    def save(self, path: str | Path) -> None:
        """Writes the table as a compressed ``.npz``."""
        arrays = {name: np.asarray(getattr(self, name)) for name in TABLE_ARRAYS}
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]

    def _extended(self, rows: FloatArray) -> FloatArray:
        missing = np.isnan(rows)
        return np.concatenate(
            (np.where(missing, -np.inf, rows), np.where(missing, np.inf, rows)), axis=-1
        )

    def leaves(self, rows: FloatArray, chunk: int = 512) -> IntArray:
        """The leaf node each row reaches in each tree: ``[n_rows, n_trees]``."""
        x = np.atleast_2d(np.asarray(rows, dtype=np.float64))
        result = np.empty((x.shape[0], len(self.roots)), dtype=np.int32)
        for begin in range(0, x.shape[0], chunk):
            extended = self._extended(x[begin : begin + chunk])
            go_right = extended[:, self.input_index] > self.split_threshold
            step = np.where(go_right, self.right, self.left)
            node = np.broadcast_to(self.roots, (len(extended), len(self.roots)))
            for _ in range(self.depth):
                node = np.take_along_axis(step, node, axis=1)
            result[begin : begin + chunk] = node
        return result

    def contributions_of(self, rows: FloatArray) -> FloatArray:
        """Per-feature log-odds contributions ``[n_rows, n_features]`` (> 0 raises risk).
        A single row takes the latency-tuned :meth:`contributions_of_row`."""
        x = np.atleast_2d(np.asarray(rows, dtype=np.float64))
        if x.shape[0] == 1:
            return self.contributions_of_row(x[0])[np.newaxis, :]
        slots = self.leaf_slot[self.leaves(x)]
        return np.asarray(self.contributions[slots].sum(axis=1), dtype=np.float64)

    def contributions_of_row(self, row: FloatArray) -> FloatArray:
        """:meth:`contributions_of` for a single row ``[n_features]``, tuned for latency:
        every node's next step is decided at once, the walk is then one gather per level,
        and the leaves' sparse contributions are summed with one ``bincount``."""
        go_right = self._extended(row)[self.input_index] > self.split_threshold
        step = np.where(go_right, self.right, self.left)
        node = self.roots
        for _ in range(self.depth):
            node = step[node]
        slots = self.leaf_slot[node]
        summed = np.bincount(
            self.sparse_feature[slots].ravel(),
            weights=self.sparse_value[slots].ravel(),
            minlength=self.n_features,
        )
        return np.asarray(summed, dtype=np.float64)

    def raw_scores(self, rows: FloatArray) -> FloatArray:
        """The model's log-odds for each row from the table alone: the sum of the leaf values
        reached, which also equals ``expected_value`` plus the row's contributions. Lets a
        loader check the table against the model (``sigmoid`` of it is the probability)."""
        slots = self.leaf_slot[self.leaves(rows)]
        return np.asarray(self.leaf_value[slots].sum(axis=1), dtype=np.float64)


def _depth(roots: IntArray, left: IntArray, right: IntArray, leaf_slot: IntArray) -> int:
    """Steps from the roots to the deepest leaf; BundleError if some path never ends."""
    frontier = roots
    for step in range(len(left) + 1):
        splits = frontier[leaf_slot[frontier] < 0]
        if len(splits) == 0:
            return step
        frontier = np.concatenate([left[splits], right[splits]])
    raise BundleError("reason table trees do not end in leaves")


def reasons_from_contributions(
    values: Sequence[float] | FloatArray,
    contributions: Sequence[float] | FloatArray,
    feature_names: Sequence[str],
    spec: ReasonCodeSpec,
    limit: int | None = None,
) -> list[ReasonCode]:
    """The adverse reasons (impact > 0), most adverse first, at most ``limit`` (default
    ``spec.max_reasons``). Ties keep feature order. ``values`` may hold NaN for undefined."""
    count = spec.max_reasons if limit is None else limit
    impacts = np.asarray(contributions, dtype=np.float64)
    # A stable sort on the negated impacts keeps feature order among ties.
    adverse = [int(i) for i in np.argsort(-impacts, kind="stable")[:count] if impacts[i] > 0]
    reasons = []
    for i in adverse:
        name = feature_names[i]
        value = float(values[i])
        defined = not math.isnan(value)
        text = spec.features[name]
        reasons.append(
            ReasonCode(
                code=text.code,
                feature=name,
                value=value if defined else None,
                impact=round(float(impacts[i]), 6),
                text=text.template.format(value=value) if defined else text.missing_text,
            )
        )
    return reasons


def explain(
    row: Sequence[float],
    table: ReasonTable,
    feature_names: Sequence[str],
    spec: ReasonCodeSpec,
) -> list[ReasonCode]:
    """Reason codes for one model input row (manifest feature order, NaN for undefined)."""
    values = np.asarray(row, dtype=np.float64)
    contributions = table.contributions_of_row(values)
    return reasons_from_contributions(values, contributions, feature_names, spec)
