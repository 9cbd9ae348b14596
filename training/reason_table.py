"""Builds the scorer's reason table (:class:`riskmodel.reasons.ReasonTable`) from a
trained LightGBM booster: its trees flattened into arrays, the Saabas contribution of every
leaf's path, and the exact TreeSHAP table (:func:`leaf_shap_values`).

Exact (path-dependent) TreeSHAP explains ``f_x(S)``, the tree's value when the features in
``S`` follow the row and the others are averaged over the training cover. A tree's
``f_x(S)`` is a sum over its leaves of ``v_l * prod_j (s_lj if j in S else r_lj)`` over the
distinct features ``j`` on the leaf's path, where ``s_lj`` says whether the row satisfies
every condition on ``j`` along the path and ``r_lj`` is the product of the cover ratios of
those splits. Each leaf's term is a game on at most ``depth`` players, so its Shapley values
depend only on which of them the row satisfies: a bit mask. The table stores them for every
leaf and every mask, and serving only looks them up.
"""

from __future__ import annotations

import math
from typing import Any

import lightgbm as lgb
import numpy as np

from riskmodel.reasons import ReasonTable
from training.errors import TrainingError


def leaf_shap_values(value: float, ratios: list[float]) -> np.ndarray:
    """Shapley values of one leaf's game for every mask: ``[2**d, d]`` for the leaf value
    ``value`` and the cover ratios ``r_j`` of its ``d`` distinct path features, where mask
    bit ``j`` says the row satisfies feature ``j``'s conditions.

    ``phi_i(m) = v (s_i - r_i) sum_{S not containing i} |S|! (d-|S|-1)! / d!
    prod_{j in S} s_j prod_{j not in S, j != i} r_j``.
    """
    d = len(ratios)
    if d == 0:
        return np.zeros((1, 0))
    masks = np.arange(1 << d)
    bits = ((masks[:, np.newaxis] >> np.arange(d)) & 1).astype(np.float64)  # [mask, j]
    r = np.asarray(ratios, dtype=np.float64)
    sizes = bits.sum(axis=1)  # |S| of subset S, indexed like the masks
    weights = np.asarray(
        [
            math.factorial(int(k)) * math.factorial(d - int(k) - 1) / math.factorial(d)
            if k < d
            else 0.0
            for k in sizes
        ]
    )
    # g[m, S] = prod_{j in S} s_j(m) * prod_{j not in S} r_j
    in_subset = bits[np.newaxis, :, :]  # [1, S, j]
    s_of_mask = bits[:, np.newaxis, :]  # [m, 1, j]
    g = np.prod(np.where(in_subset == 1.0, s_of_mask, r), axis=2)
    values = np.empty((1 << d, d))
    for i in range(d):
        without_i = weights * (bits[:, i] == 0.0)
        # Dividing by r_i takes j = i out of the product of the features left out of S.
        values[:, i] = value * (bits[:, i] - r[i]) / r[i] * (g @ without_i)
    return values


def build_reason_table(booster: lgb.Booster) -> ReasonTable:
    """Flattens every tree of ``booster``, whose thresholds must be float32 values
    (:func:`training.bundle.snap_thresholds_to_float32`): the dump prints them in decimal and
    rounding back to float32 recovers them exactly. Raises TrainingError for splits the table
    cannot express (categorical splits, zero-as-missing)."""
    dump = booster.dump_model()
    n_features = len(dump["feature_names"])
    nodes: dict[str, list[Any]] = {
        "feature": [],
        "threshold": [],
        "nan_left": [],
        "left": [],
        "right": [],
        "leaf_slot": [],
    }
    contributions: list[np.ndarray] = []
    leaf_values: list[float] = []
    leaf_paths: list[list[tuple[int, bool, int, float]]] = []
    roots: list[int] = []
    expected = 0.0

    def count(node: dict[str, Any]) -> float:
        return float(node["leaf_count"] if "leaf_value" in node else node["internal_count"])

    def add(
        node: dict[str, Any], path: np.ndarray, steps: list[tuple[int, bool, int, float]]
    ) -> int:
        index = len(nodes["feature"])
        for values in nodes.values():
            values.append(0)
        if "leaf_value" in node:
            nodes["leaf_slot"][index] = len(leaf_values)
            nodes["left"][index] = nodes["right"][index] = index
            nodes["threshold"][index] = math.inf
            leaf_values.append(float(node["leaf_value"]))
            contributions.append(path)
            leaf_paths.append(steps)
            return index
        if node["decision_type"] != "<=" or node["missing_type"] == "Zero":
            raise TrainingError(
                f"split {node['decision_type']} with missing type {node['missing_type']} "
                "is not supported by the reason table"
            )
        feature = int(node["split_feature"])
        with np.errstate(over="ignore"):
            # Beyond the float32 range a threshold becomes infinite: same float32 decisions.
            threshold = float(np.float32(node["threshold"]))
        value = float(node["internal_value"])
        nodes["feature"][index] = feature
        nodes["threshold"][index] = threshold
        nodes["nan_left"][index] = (
            bool(node["default_left"]) if node["missing_type"] == "NaN" else threshold >= 0.0
        )
        nodes["leaf_slot"][index] = -1
        for side in ("left_child", "right_child"):
            child = node[side]
            child_value = float(
                child["leaf_value"] if "leaf_value" in child else child["internal_value"]
            )
            step = path.copy()
            step[feature] += child_value - value
            went_right = side == "right_child"
            ratio = count(child) / count(node)
            nodes["right" if went_right else "left"][index] = add(
                child, step, [*steps, (index, went_right, feature, ratio)]
            )
        return index

    for tree in dump["tree_info"]:
        root = tree["tree_structure"]
        root_value = float(root["leaf_value"] if "leaf_value" in root else root["internal_value"])
        expected += root_value
        roots.append(add(root, np.zeros(n_features), []))

    return ReasonTable.from_arrays(
        {
            "feature": np.asarray(nodes["feature"], dtype=np.int32),
            "threshold": np.asarray(nodes["threshold"], dtype=np.float64),
            "nan_left": np.asarray(nodes["nan_left"], dtype=np.bool_),
            "left": np.asarray(nodes["left"], dtype=np.int32),
            "right": np.asarray(nodes["right"], dtype=np.int32),
            "leaf_slot": np.asarray(nodes["leaf_slot"], dtype=np.int32),
            "roots": np.asarray(roots, dtype=np.int32),
            "contributions": np.asarray(contributions, dtype=np.float64).reshape(-1, n_features),
            "leaf_value": np.asarray(leaf_values, dtype=np.float64),
            "expected_value": np.asarray([expected]),
            **_shap_arrays(leaf_values, leaf_paths),
        }
    )


def _shap_arrays(
    leaf_values: list[float], leaf_paths: list[list[tuple[int, bool, int, float]]]
) -> dict[str, np.ndarray]:
    """The exact TreeSHAP arrays of :class:`ReasonTable` (see its docstring)."""
    steps = max((len(path) for path in leaf_paths), default=0)
    width = max(1, steps)
    leaves = len(leaf_paths)
    path_node = np.zeros((leaves, width), dtype=np.int32)
    path_right = np.zeros((leaves, width), dtype=np.bool_)
    path_bit = np.zeros((leaves, width), dtype=np.int32)
    slot_feature = np.zeros((leaves, width), dtype=np.int32)
    full_mask = np.zeros(leaves, dtype=np.int32)
    values = np.zeros((leaves, 1 << width, width), dtype=np.float64)
    expected = 0.0
    for leaf, path in enumerate(leaf_paths):
        distinct: list[int] = []
        ratios: list[float] = []
        for k, (node, went_right, feature, ratio) in enumerate(path):
            if feature not in distinct:
                distinct.append(feature)
                ratios.append(1.0)
            slot = distinct.index(feature)
            ratios[slot] *= ratio
            path_node[leaf, k] = node
            path_right[leaf, k] = went_right
            path_bit[leaf, k] = 1 << slot
        d = len(distinct)
        slot_feature[leaf, :d] = distinct
        full_mask[leaf] = (1 << d) - 1
        values[leaf, : 1 << d, :d] = leaf_shap_values(leaf_values[leaf], ratios)
        # The mean over the training cover: what the contributions of a row add up from.
        expected += leaf_values[leaf] * math.prod(ratios)
    return {
        "expected_value": np.asarray([expected]),
        "shap_path_node": path_node,
        "shap_path_right": path_right,
        "shap_path_bit": path_bit,
        "shap_slot_feature": slot_feature,
        "shap_full_mask": full_mask,
        "shap_values": values,
    }
