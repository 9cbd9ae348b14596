"""Tiny model bundles for the scorer's tests, built in temporary directories.

The model is a logistic regression written directly as an ONNX graph (NaN inputs count as
0), which loads and runs in microseconds; the reason table is one hand-made tree. Variants
make the broken bundles the registry gate must refuse.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import orjson
from onnx import TensorProto, helper

from riskmodel.reasons import ReasonTable
from schemas.events import parse_event
from schemas.features import FEATURE_SCHEMA
from services.features.core import CustomerState, apply_event

NAMES = FEATURE_SCHEMA.names
ADVERSE = {
    "payments_failed_30d": 0.9,
    "chargebacks_90d": 1.2,
    "repayments_late_90d": 0.7,
    "orders_count_90d": -0.05,
    "verified_kinds_count": -0.6,
    "bureau_score_normalised": -2.5,
}
"""Weights of the logistic model (log-odds per unit; negative ones favourable); every other
feature weighs 0."""


def _graph(n_inputs: int, bias: float) -> onnx.ModelProto:
    weights = np.zeros((n_inputs, 1), dtype=np.float32)
    for name, weight in ADVERSE.items():
        index = NAMES.index(name)
        if index < n_inputs:
            weights[index, 0] = weight
    nodes = [
        helper.make_node("IsNaN", ["features"], ["missing"]),
        helper.make_node("Where", ["missing", "zero", "features"], ["filled"]),
        helper.make_node("MatMul", ["filled", "weights"], ["linear"]),
        helper.make_node("Add", ["linear", "bias"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["column"]),
        helper.make_node("Reshape", ["column", "flat"], ["probability"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_logistic",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, n_inputs])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, [None])],
        initializer=[
            helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
            helper.make_tensor("weights", TensorProto.FLOAT, [n_inputs, 1], weights.ravel()),
            helper.make_tensor("bias", TensorProto.FLOAT, [1], [bias]),
            helper.make_tensor("flat", TensorProto.INT64, [1], [-1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _reason_table(split_feature: str) -> ReasonTable:
    """One tree splitting ``split_feature`` at 0.5: above it the feature adds 0.8 log-odds."""
    n = len(NAMES)
    column = NAMES.index(split_feature)
    contributions = np.zeros((2, n))
    contributions[0, column] = -0.2
    contributions[1, column] = 0.8
    return ReasonTable.from_arrays(
        {
            "feature": np.array([column, 0, 0]),
            "threshold": np.array([0.5, math.inf, math.inf]),
            "nan_left": np.array([True, False, False]),
            "left": np.array([1, 1, 2]),
            "right": np.array([2, 1, 2]),
            "leaf_slot": np.array([-1, 0, 1]),
            "roots": np.array([0]),
            "contributions": contributions,
            "leaf_value": np.array([-0.2, 0.8]),
            "expected_value": np.array([0.0]),
        }
    )


GOLDEN_INPUTS: list[list[float | None]] = [
    [0.0] * len(NAMES),
    [None] * len(NAMES),
    [3.0 if name in ADVERSE else 1.0 for name in NAMES],
]


def manifest_document(
    version: str, golden_outputs: list[float], thin_file: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "model_version": version,
        "created_at": datetime.now(UTC).isoformat(),
        "feature_schema_version": FEATURE_SCHEMA.version,
        "feature_schema_fingerprint": FEATURE_SCHEMA.fingerprint(),
        "feature_names": list(NAMES),
        "data_fingerprint": "sha256:test",
        "metrics": {"auc": 0.8, "ks": 0.4},
        "calibration": {"method": "platt", "a": 1.0, "b": 0.0},
        "score_scaling": {"base_score": 600, "base_odds": 20, "pdo": 40},
        "grade_cutoffs": {"S": 720, "A": 660, "B": 600, "C": 540},
        "risk_levels": {"green": ["S", "A"], "yellow": ["B", "C"], "red": ["D"]},
        "limit_policy": {
            "currency": "CNY",
            "by_grade": {"S": 20000, "A": 10000, "B": 5000, "C": 1000, "D": 0},
        },
        "reason_codes": {
            "table": "reasons.npz",
            "max_reasons": 3,
            "features": {
                name: {
                    "code": f"R_{name.upper()}",
                    "template": f"{name} is {{value}}",
                    "missing_text": f"{name} is undefined",
                }
                for name in NAMES
            },
        },
        "golden_rows": {"inputs": GOLDEN_INPUTS, "outputs": golden_outputs, "tolerance": 1e-5},
        "thin_file": thin_file,
    }


def build_bundle(
    directory: Path,
    version: str,
    *,
    bias: float = -3.0,
    n_inputs: int | None = None,
    golden_outputs: list[float] | None = None,
    corrupt_model: bool = False,
    thin_file: dict[str, Any] | None = None,
    split_feature: str = "payments_failed_30d",
) -> Path:
    """Writes a bundle into ``directory`` (created) and returns it. ``bias`` shifts every
    probability (a NaN bias makes a NaN model); ``n_inputs`` other than the schema's width
    makes a model that takes the wrong number of features."""
    directory.mkdir(parents=True, exist_ok=True)
    model = _graph(n_inputs or len(NAMES), bias)
    model_bytes = model.SerializeToString()
    if golden_outputs is None:
        session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
        rows = np.array(
            [[math.nan if v is None else v for v in row] for row in GOLDEN_INPUTS],
            dtype=np.float32,
        )[:, : n_inputs or len(NAMES)]
        computed = session.run(["probability"], {"features": rows})[0].tolist()
        golden_outputs = [0.5 if math.isnan(v) else v for v in computed]
    (directory / "model.onnx").write_bytes(
        b"\x08\x07 this is not a protobuf model" if corrupt_model else model_bytes
    )
    _reason_table(split_feature).save(directory / "reasons.npz")
    (directory / "manifest.json").write_bytes(
        orjson.dumps(manifest_document(version, golden_outputs, thin_file))
    )
    return directory


def probability(bias: float, features: dict[str, float | None]) -> float:
    """What the tiny model answers for ``features`` (for expectations in tests)."""
    logit = bias + sum(w * (features.get(n) or 0.0) for n, w in ADVERSE.items())
    return 1.0 / (1.0 + math.exp(-logit))


def customer_state(
    customer_id: str, now: datetime, failed_payments: int = 0, orders: int = 1
) -> CustomerState:
    """A customer with ``orders`` card orders and ``failed_payments`` failed charges in the
    last hours before ``now``."""
    state = CustomerState.new(customer_id)
    for i in range(orders):
        event = parse_event(
            {
                "event_id": f"{customer_id}-o{i}",
                "event_type": "order",
                "customer_id": customer_id,
                "occurred_at": now.isoformat(),
                "order_id": f"{customer_id}-order{i}",
                "amount": "100.00",
                "currency": "CNY",
                "payment_method": "card",
                "status": "placed",
                "item_count": 1,
                "channel": "web",
            },
            now=now,
        )
        apply_event(state, event, now)
    for i in range(failed_payments):
        event = parse_event(
            {
                "event_id": f"{customer_id}-p{i}",
                "event_type": "payment",
                "customer_id": customer_id,
                "occurred_at": now.isoformat(),
                "order_id": f"{customer_id}-order0",
                "payment_id": f"{customer_id}-pay{i}",
                "amount": "100.00",
                "currency": "CNY",
                "kind": "charge",
                "status": "failed",
            },
            now=now,
        )
        apply_event(state, event, now)
    return state
