"""The model bundle: ``model.onnx``, ``manifest.json`` and the reason table, written by
training and read back by :func:`load_bundle`.

The ONNX graph is onnxmltools' conversion of the LightGBM booster (zipmap off) with one node
added that picks the probability of class 1, so the single output ``probability`` is
``float32 [N]``. Export fails unless that output matches LightGBM on every given row to
``PARITY_TOLERANCE`` and the reason table reproduces LightGBM's log-odds.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import onnx
import onnxmltools
import onnxruntime as ort
from onnx import TensorProto, helper
from onnxmltools.convert.common.data_types import FloatTensorType

from riskmodel.errors import BundleError
from riskmodel.manifest import (
    MANIFEST_FILE,
    MODEL_FILE,
    ONNX_INPUT,
    ONNX_OUTPUT,
    BundleManifest,
)
from riskmodel.reasons import ReasonTable
from training.errors import TrainingError

PARITY_TOLERANCE = 1e-5
_TARGET_OPSET = 15


@dataclass(frozen=True, slots=True)
class Bundle:
    """A bundle read from disk: its directory, parsed manifest and reason table."""

    path: Path
    manifest: BundleManifest
    reason_table: ReasonTable

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE


def _float32_floor(threshold: float) -> float:
    """The largest float32 value not above ``threshold``: for any float32 ``x``,
    ``x <= threshold`` exactly when ``x <= _float32_floor(threshold)``."""
    with np.errstate(over="ignore"):
        rounded = np.float32(threshold)
    if float(rounded) > threshold:
        rounded = np.nextafter(rounded, np.float32(-np.inf))
    return float(rounded)


def snap_thresholds_to_float32(booster: lgb.Booster) -> lgb.Booster:
    """The same model with every split threshold moved down to a float32 value.

    ONNX tree ensembles store float32 thresholds; rounding a double threshold to the nearest
    float32 can send a float32 input that LightGBM sends right to the left instead. Snapped
    thresholds change no decision for float32 inputs (the rows training uses) and convert to
    ONNX exactly. Keeps the trees up to the best iteration.
    """
    lines = []
    for line in booster.model_to_string().splitlines():
        if line.startswith("tree_sizes="):
            # Byte sizes of the tree blocks, which change with the text; LightGBM parses
            # the trees one after another without them.
            continue
        if line.startswith("threshold="):
            values = line.removeprefix("threshold=").split()
            line = "threshold=" + " ".join(f"{_float32_floor(float(v)):.17g}" for v in values)
        lines.append(line)
    return lgb.Booster(model_str="\n".join(lines) + "\n")


def convert_to_onnx(booster: lgb.Booster, n_features: int) -> bytes:
    """The booster as an ONNX model with input ``features`` and output ``probability``."""
    model = onnxmltools.convert_lightgbm(
        booster,
        initial_types=[(ONNX_INPUT, FloatTensorType([None, n_features]))],
        zipmap=False,
        target_opset=_TARGET_OPSET,
    )
    graph = model.graph
    probabilities = next(o.name for o in graph.output if o.name != "label")
    graph.initializer.append(helper.make_tensor("class_one", TensorProto.INT64, [], [1]))
    graph.node.append(
        helper.make_node("Gather", [probabilities, "class_one"], [ONNX_OUTPUT], axis=1)
    )
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(ONNX_OUTPUT, TensorProto.FLOAT, [None]))
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def onnx_session(model: bytes | Path) -> ort.InferenceSession:
    """A single-threaded CPU session (the fastest setting for one row at a time)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def onnx_predict(
    session: ort.InferenceSession, x: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """The ONNX probability of class 1 for each row."""
    output = session.run([ONNX_OUTPUT], {ONNX_INPUT: np.asarray(x, dtype=np.float32)})[0]
    return np.asarray(output, dtype=np.float64)


def check_parity(
    booster: lgb.Booster, model: bytes, table: ReasonTable, x: npt.NDArray[np.float64]
) -> dict[str, float]:
    """Max absolute differences of the ONNX model and the reason table from LightGBM on
    ``x``; raises TrainingError when either exceeds :data:`PARITY_TOLERANCE`."""
    expected = booster.predict(x)
    onnx_diff = float(np.max(np.abs(onnx_predict(onnx_session(model), x) - expected)))
    table_probability = 1.0 / (1.0 + np.exp(-table.raw_scores(x)))
    table_diff = float(np.max(np.abs(table_probability - expected)))
    if not onnx_diff <= PARITY_TOLERANCE:
        raise TrainingError(f"ONNX output differs from LightGBM by {onnx_diff:.3g}")
    if not table_diff <= PARITY_TOLERANCE:
        raise TrainingError(f"reason table differs from LightGBM by {table_diff:.3g}")
    return {"onnx_max_abs_diff": onnx_diff, "reason_table_max_abs_diff": table_diff}


def golden_inputs(x: npt.NDArray[np.float64], count: int = 8) -> list[list[float | None]]:
    """``count`` rows spread over ``x`` plus an all-undefined row, NaN written as null."""
    picks = np.linspace(0, len(x) - 1, num=min(count, len(x))).astype(int)
    rows = [*x[picks].tolist(), [math.nan] * x.shape[1]]
    return [[None if math.isnan(v) else float(v) for v in row] for row in rows]


def model_version(created_at_day: str, model: bytes) -> str:
    """``YYYYMMDD-<first 8 hex of the model's sha256>``."""
    return f"{created_at_day}-{hashlib.sha256(model).hexdigest()[:8]}"


def write_bundle(out_dir: Path, model: bytes, table: ReasonTable, manifest: BundleManifest) -> None:
    """Writes ``model.onnx``, the reason table and ``manifest.json`` into ``out_dir``; the
    manifest last, so a reader that finds it finds a complete bundle."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MODEL_FILE).write_bytes(model)
    table.save(out_dir / manifest.reason_codes.table)
    (out_dir / MANIFEST_FILE).write_text(
        json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8"
    )


def load_bundle(path: str | Path) -> Bundle:
    """Reads a bundle directory: parses the manifest, loads the reason table and checks that
    the two agree on the feature count. Loading the ONNX model is the scorer's job; this
    raises TrainingError when ``model.onnx`` is absent."""
    directory = Path(path)
    try:
        manifest = BundleManifest.model_validate_json(
            (directory / MANIFEST_FILE).read_text(encoding="utf-8")
        )
    except (OSError, ValueError) as error:
        raise TrainingError(f"cannot read the manifest in {directory}: {error}") from error
    if not (directory / MODEL_FILE).is_file():
        raise TrainingError(f"{directory} has no {MODEL_FILE}")
    try:
        table = ReasonTable.load(directory / manifest.reason_codes.table)
    except BundleError as error:
        raise TrainingError(str(error)) from error
    if table.n_features != len(manifest.feature_names):
        raise TrainingError("the reason table and the manifest disagree on the feature count")
    return Bundle(path=directory, manifest=manifest, reason_table=table)
