"""Builds the scorer's reason table (:class:`riskmodel.reasons.ReasonTable`) from a
trained LightGBM booster: its trees flattened into arrays and the Saabas contribution of every
leaf's path."""

from __future__ import annotations

import math
from typing import Any

import lightgbm as lgb
import numpy as np

from riskmodel.reasons import ReasonTable
from training.errors import TrainingError


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
    roots: list[int] = []
    expected = 0.0

    def add(node: dict[str, Any], path: np.ndarray) -> int:
        index = len(nodes["feature"])
        for values in nodes.values():
            values.append(0)
        if "leaf_value" in node:
            nodes["leaf_slot"][index] = len(leaf_values)
            nodes["left"][index] = nodes["right"][index] = index
            nodes["threshold"][index] = math.inf
            leaf_values.append(float(node["leaf_value"]))
            contributions.append(path)
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
            nodes["left" if side == "left_child" else "right"][index] = add(child, step)
        return index

    for tree in dump["tree_info"]:
        root = tree["tree_structure"]
        root_value = float(root["leaf_value"] if "leaf_value" in root else root["internal_value"])
        expected += root_value
        roots.append(add(root, np.zeros(n_features)))

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
        }
    )
