"""Reason codes from the bundle alone, fast enough for the synchronous path.

The bundle's reason table holds the model's trees flattened into arrays. Tables written since
exact TreeSHAP came in (``ReasonCodeSpec.method`` ``tree_shap_leaf_table``) also hold, for
every leaf and every pattern of which of its path features a row satisfies, the leaf's exact
TreeSHAP values (see :mod:`training.reason_table`): a row's contributions are one vectorised
pass that decides every split, turns each leaf's path into its pattern and adds up the
looked-up values. They equal LightGBM's ``pred_contrib`` and add up, with
``expected_value``, to the model's raw log-odds.

Older tables hold only the per-leaf Saabas contributions (each split's change in node value
credited to its feature, summed over the leaves a row reaches), an approximation of TreeSHAP;
they are still served as they are.
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
SHAP_ARRAYS = (
    "shap_path_node",
    "shap_path_right",
    "shap_path_bit",
    "shap_slot_feature",
    "shap_full_mask",
    "shap_values",
)
"""Exact TreeSHAP arrays, one row per leaf (in ``leaf_slot`` order): the nodes of its path,
the side taken at each, each step's bit (its feature's slot among the path's distinct
features), each slot's feature, the mask of all its slots, and its Shapley values
``[2**width, width]`` per mask of satisfied slots."""


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
    shap: dict[str, npt.NDArray[np.generic]] | None = None

    @property
    def n_features(self) -> int:
        return int(self.contributions.shape[1])

    @property
    def exact(self) -> bool:
        """Whether contributions are exact TreeSHAP values (else Saabas)."""
        return self.shap is not None

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
        input_index = (feature + contributions.shape[1] * ~nan_left).astype(np.int32)
        split_threshold = np.clip(threshold, -largest, largest)
        shap = _shap_arrays(
            arrays, len(leaf_value), contributions.shape[1], input_index, split_threshold
        )
        if shap is not None:
            shap.update(
                _tree_patterns(
                    shap,
                    contributions.shape[1],
                    (roots, left, right, leaf_slot),
                    input_index,
                    split_threshold,
                )
            )
        return cls(
            shap=shap,
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
            input_index=input_index,
            split_threshold=split_threshold,
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
        arrays: dict[str, npt.NDArray[np.generic]] = {
            name: np.asarray(getattr(self, name)) for name in TABLE_ARRAYS
        }
        if self.shap is not None:
            arrays.update({name: self.shap[name] for name in SHAP_ARRAYS})
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
        if self.shap is None:
            slots = self.leaf_slot[self.leaves(x)]
            return np.asarray(self.contributions[slots].sum(axis=1), dtype=np.float64)
        if PATTERN_TABLE in self.shap:
            return np.concatenate(
                [
                    self._patterns_of(self._extended(x[begin : begin + PATTERN_CHUNK]))
                    for begin in range(0, len(x), PATTERN_CHUNK)
                ]
            )
        return np.stack([self._shap_of(self._extended(row)) for row in x])

    def _patterns_of(self, extended: FloatArray) -> FloatArray:
        """Exact TreeSHAP values of at most :data:`PATTERN_CHUNK` rows ``[n, 2 * n_features]``
        from the per-tree tables (see :func:`_tree_patterns`): decide each tree's splits,
        read the tree's contributions for that pattern of decisions, and add them up per
        feature (in tree order, whatever the number of rows)."""
        shap = self.shap
        assert shap is not None
        rows = len(extended)
        # The padding column of ``extended`` reads -inf, below every padding threshold.
        padded = np.concatenate((extended, np.full((rows, 1), -np.inf)), axis=1)
        went_right = padded[:, shap["tree_input"]] > shap["tree_threshold"]
        # At most 8 splits a tree: a pattern fits a byte, which keeps the product small.
        bits = np.asarray(shap["tree_bits"], dtype=np.uint8)
        patterns = went_right.view(np.uint8) @ bits + np.asarray(shap["tree_offset"], dtype=np.intp)
        # ``take`` copies whole table rows; indexing with ``[patterns]`` took four times as long.
        values = np.take(shap[PATTERN_TABLE], patterns, axis=0)
        features = self.n_features + 1  # the last bin collects the padding slots
        bins = shap["tree_bins"][: values.size]
        summed = np.bincount(bins, weights=values.ravel(), minlength=rows * features)
        return np.asarray(summed.reshape(rows, features)[:, :-1], dtype=np.float64)

    def _shap_of(self, extended: FloatArray) -> FloatArray:
        """Exact TreeSHAP values of one row, given as :meth:`_extended` makes it.

        Works slot-major (``[width, leaves]``): decide every path step, set the bit of each
        step the row does not follow, OR the bits per leaf, and look up each leaf's values
        for the mask of the slots left satisfied."""
        shap = self.shap
        assert shap is not None
        if PATTERN_TABLE in shap:
            return np.asarray(self._patterns_of(extended[np.newaxis, :])[0], dtype=np.float64)
        steps = shap["step_input"]
        went_right = extended[steps] > shap["step_threshold"]
        missed = (went_right != shap["step_right"]) * shap["step_bit"]
        violated = missed[0].copy()
        for step in missed[1:]:
            violated |= step
        position = shap["leaf_base"] + (shap["full_mask"] & ~violated)
        summed = np.bincount(
            shap["slot_feature"],
            weights=shap["values_by_slot"][:, position].ravel(),
            minlength=self.n_features,
        )
        return np.asarray(summed, dtype=np.float64)

    def contributions_of_row(self, row: FloatArray) -> FloatArray:
        """:meth:`contributions_of` for a single row ``[n_features]``, tuned for latency:
        every node's next step is decided at once; exact tables then look up each leaf's
        values by its pattern, Saabas tables walk to the leaves (one gather per level) and
        sum their sparse contributions with one ``bincount``."""
        if self.shap is not None:
            return self._shap_of(self._extended(row))
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


def _shap_arrays(
    arrays: Mapping[str, npt.NDArray[np.generic]],
    leaves: int,
    n_features: int,
    input_index: IntArray,
    split_threshold: FloatArray,
) -> dict[str, npt.NDArray[np.generic]] | None:
    """The exact TreeSHAP arrays as stored (checked) and in the slot-major layout the
    per-row pass reads; None for a Saabas-only table; BundleError when only some are
    present or they do not fit the trees."""
    present = [name for name in SHAP_ARRAYS if name in arrays]
    if not present:
        return None
    if len(present) != len(SHAP_ARRAYS):
        missing = sorted(set(SHAP_ARRAYS) - set(present))
        raise BundleError(f"reason table lacks {', '.join(missing)}")
    stored = {name: np.asarray(arrays[name]) for name in SHAP_ARRAYS}
    path_node = stored["shap_path_node"].astype(np.intp)
    slot_feature = stored["shap_slot_feature"].astype(np.intp)
    full_mask = stored["shap_full_mask"].astype(np.int32)
    values = stored["shap_values"].astype(np.float64)
    width = path_node.shape[1] if path_node.ndim == 2 else -1
    shapes_fit = (
        width >= 1
        and path_node.shape
        == stored["shap_path_right"].shape
        == stored["shap_path_bit"].shape
        == slot_feature.shape
        and path_node.shape[0] == leaves == len(full_mask)
        and values.shape == (leaves, 1 << width, width)
    )
    if not shapes_fit:
        raise BundleError("reason table TreeSHAP arrays do not fit its leaves")
    if path_node.min() < 0 or path_node.max() >= len(input_index):
        raise BundleError("reason table TreeSHAP paths leave the node arrays")
    if slot_feature.min() < 0 or slot_feature.max() >= n_features:
        raise BundleError("reason table TreeSHAP slots name a feature it has no column for")
    if full_mask.min() < 0 or full_mask.max() >= 1 << width:
        raise BundleError("reason table TreeSHAP masks do not fit its width")
    return {
        **stored,
        "step_input": np.ascontiguousarray(input_index[path_node].T),
        "step_threshold": np.ascontiguousarray(split_threshold[path_node].T),
        "step_right": np.ascontiguousarray(stored["shap_path_right"].astype(np.bool_).T),
        "step_bit": np.ascontiguousarray(stored["shap_path_bit"].astype(np.int32).T),
        "full_mask": full_mask,
        "leaf_base": np.arange(leaves, dtype=np.intp) << width,
        "slot_feature": np.ascontiguousarray(slot_feature.T).ravel(),
        "values_by_slot": np.ascontiguousarray(values.transpose(2, 0, 1).reshape(width, -1)),
    }


PATTERN_TABLE = "tree_table"
MAX_PATTERN_SPLITS = 8
"""Trees of at most this many splits get a table of their contributions per pattern of
split decisions (``2**splits`` rows each)."""
PATTERN_CHUNK = 32
"""Rows looked up in the per-tree tables at a time. A chunk's intermediate arrays (some
20 KB a row for a few hundred trees) then stay small enough to reuse freed heap memory;
whole batches of hundreds of rows took twice the time, mostly faulting in fresh pages."""


def _tree_patterns(
    shap: Mapping[str, npt.NDArray[np.generic]],
    n_features: int,
    nodes: tuple[IntArray, IntArray, IntArray, IntArray],
    input_index: IntArray,
    split_threshold: FloatArray,
) -> dict[str, npt.NDArray[np.generic]]:
    """For small trees (every tree at most :data:`MAX_PATTERN_SPLITS` splits), each
    tree's exact TreeSHAP contributions for every pattern of decisions at its splits, so
    a row costs one comparison per split and one lookup per tree instead of work on every
    step of every leaf's path. The sums differ from the per-leaf pass only by rounding.
    Empty (the per-leaf pass serves) when some tree is larger.

    Arrays (``T`` trees, ``K`` most splits of a tree, ``F`` most features of a tree):
    ``tree_input``/``tree_threshold`` ``[T, K]`` each tree's splits as in
    :meth:`ReasonTable.leaves` (padding: the extra last column of the extended row against
    +inf, never right), ``tree_bits`` ``[K]`` powers of two (bytes), ``tree_offset`` ``[T]``
    each tree's first table row, ``tree_table`` ``[sum 2**k, F]`` and ``tree_feature``
    ``[T, F]`` (padding slots name feature ``n_features``); ``tree_bins``, flat, the
    ``bincount`` bin of every looked-up value of :data:`PATTERN_CHUNK` rows (row ``r``'s
    are ``tree_feature + r * (n_features + 1)``)."""
    roots, left, right, leaf_slot = nodes
    trees: list[tuple[list[int], list[int]]] = []
    for root in roots.tolist():
        splits: list[int] = []
        leaves: list[int] = []
        frontier = [root]
        while frontier:
            node = frontier.pop()
            if leaf_slot[node] >= 0:
                leaves.append(int(leaf_slot[node]))
            else:
                splits.append(node)
                frontier += [int(left[node]), int(right[node])]
        if len(splits) > MAX_PATTERN_SPLITS:
            return {}
        trees.append((splits, leaves))
    path_node = np.asarray(shap["shap_path_node"])
    path_right = np.asarray(shap["shap_path_right"]).astype(np.bool_)
    path_bit = np.asarray(shap["shap_path_bit"])
    slot_feature = np.asarray(shap["shap_slot_feature"])
    full_mask = np.asarray(shap["shap_full_mask"])
    values = np.asarray(shap["shap_values"], dtype=np.float64)
    most_splits = max(1, max(len(splits) for splits, _ in trees))
    tables: list[FloatArray] = []
    features_of: list[list[int]] = []
    for splits, leaves in trees:
        local = {node: j for j, node in enumerate(splits)}
        patterns = np.arange(1 << len(splits))
        features: list[int] = sorted({int(f) for leaf in leaves for f in slot_feature[leaf]})
        column = {feature: j for j, feature in enumerate(features)}
        table = np.zeros((len(patterns), len(features)))
        for leaf in leaves:
            violated = np.zeros(len(patterns), dtype=np.int64)
            for step in range(path_node.shape[1]):
                bit = int(path_bit[leaf, step])
                if bit == 0:
                    continue
                decision = (patterns >> local[int(path_node[leaf, step])]) & 1
                violated |= (decision != int(path_right[leaf, step])) * bit
            mask = int(full_mask[leaf]) & ~violated
            for slot in range(path_node.shape[1]):
                table[:, column[int(slot_feature[leaf, slot])]] += values[leaf, mask, slot]
        tables.append(table)
        features_of.append(features)
    most_features = max(len(features) for features in features_of)
    tree_input = np.full((len(trees), most_splits), 2 * n_features, dtype=np.intp)
    tree_threshold = np.full((len(trees), most_splits), np.inf)
    tree_feature = np.full((len(trees), most_features), n_features, dtype=np.intp)
    table_rows = np.zeros((sum(len(t) for t in tables), most_features))
    offsets = np.zeros(len(trees), dtype=np.intp)
    row = 0
    for t, ((splits, _), table, features) in enumerate(
        zip(trees, tables, features_of, strict=True)
    ):
        tree_input[t, : len(splits)] = input_index[splits]
        tree_threshold[t, : len(splits)] = split_threshold[splits]
        tree_feature[t, : len(features)] = features
        offsets[t] = row
        table_rows[row : row + len(table), : len(features)] = table
        row += len(table)
    return {
        "tree_input": tree_input,
        "tree_threshold": tree_threshold,
        "tree_bits": (1 << np.arange(most_splits)).astype(np.uint8),
        "tree_offset": offsets,
        PATTERN_TABLE: table_rows,
        "tree_feature": tree_feature,
        "tree_bins": (
            tree_feature + (n_features + 1) * np.arange(PATTERN_CHUNK)[:, np.newaxis, np.newaxis]
        ).ravel(),
    }


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
    (reasons,) = reasons_of_rows(
        np.asarray(values, dtype=np.float64)[np.newaxis, :],
        np.asarray(contributions, dtype=np.float64)[np.newaxis, :],
        feature_names,
        spec,
        limit,
    )
    return reasons


def reasons_of_rows(
    values: FloatArray,
    contributions: FloatArray,
    feature_names: Sequence[str],
    spec: ReasonCodeSpec,
    limit: int | None = None,
) -> list[list[ReasonCode]]:
    """:func:`reasons_from_contributions` for each row of ``values`` and ``contributions``
    (both ``[n_rows, n_features]``): the ranking is one sort over the batch, and only the
    reasons kept become Python objects."""
    count = spec.max_reasons if limit is None else limit
    impacts = np.asarray(contributions, dtype=np.float64)
    # A stable sort on the negated impacts keeps feature order among ties.
    ranked = np.argsort(-impacts, axis=1, kind="stable")[:, :count]
    top = np.take_along_axis(impacts, ranked, axis=1)
    rows, ranks = np.nonzero(top > 0)  # row by row, most adverse first
    columns = ranked[rows, ranks]
    reasons: list[list[ReasonCode]] = [[] for _ in range(len(impacts))]
    for row, column, impact, value in zip(
        rows.tolist(),
        columns.tolist(),
        top[rows, ranks].tolist(),
        np.asarray(values, dtype=np.float64)[rows, columns].tolist(),
        strict=True,
    ):
        name = feature_names[column]
        defined = not math.isnan(value)
        text = spec.features[name]
        reasons[row].append(
            ReasonCode(
                code=text.code,
                feature=name,
                value=value if defined else None,
                impact=round(impact, 6),
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
