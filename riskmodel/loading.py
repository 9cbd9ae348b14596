"""Opening a model bundle for serving, and the registry gate.

:func:`open_bundle` reads ``manifest.json``, builds the onnxruntime session (one intra-op
and one inter-op thread, sequential execution, graph fully optimised) and the reason table,
then runs the gate: the model's input and output match the manifest, the feature schema is
the running feature service's, and the golden rows give finite outputs in [0, 1] that match
the manifest's expected outputs. A bundle that fails any check raises
:class:`GateRefusedError` with a stable code and a precise message; a bundle that passes is
ready to serve (its session has already run once, so the first request pays no warm-up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import orjson
from pydantic import ValidationError

from riskmodel.errors import BundleError, GateRefusedError
from riskmodel.manifest import (
    MANIFEST_FILE,
    MODEL_FILE,
    ONNX_INPUT,
    ONNX_OUTPUT,
    BundleManifest,
)
from riskmodel.reasons import ReasonTable
from schemas.features import FeatureSchema

FloatMatrix = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class LoadedModel:
    """A gated bundle ready to serve: manifest, onnxruntime session and reason table."""

    manifest: BundleManifest
    session: ort.InferenceSession
    table: ReasonTable
    path: Path
    golden_max_error: float

    @property
    def version(self) -> str:
        return self.manifest.model_version

    def probabilities(self, rows: FloatMatrix) -> FloatMatrix:
        """The model's uncalibrated probability of default for each row (``[N, n]`` in the
        manifest's feature order, NaN for undefined), as float64 ``[N]``."""
        (output,) = self.session.run(
            [ONNX_OUTPUT], {ONNX_INPUT: np.ascontiguousarray(rows, dtype=np.float32)}
        )
        return np.asarray(output, dtype=np.float64).reshape(-1)

    def contributions(self, rows: FloatMatrix) -> FloatMatrix:
        """Per-feature log-odds contributions ``[N, n]`` from the reason table."""
        return self.table.contributions_of(rows)


def _session(model_path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # onnxruntime raises several unrelated types for bad files
        raise GateRefusedError(
            "model_unloadable", f"{MODEL_FILE} does not load in onnxruntime: {error}"
        ) from error


def read_manifest(bundle: Path) -> BundleManifest:
    """The bundle's manifest; GateRefusedError when it is missing or invalid."""
    path = bundle / MANIFEST_FILE
    try:
        return BundleManifest.model_validate(orjson.loads(path.read_bytes()))
    except FileNotFoundError as error:
        raise GateRefusedError("manifest_missing", f"{path} does not exist") from error
    except orjson.JSONDecodeError as error:
        raise GateRefusedError(
            "manifest_invalid", f"{MANIFEST_FILE} is not JSON: {error}"
        ) from error
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'manifest'}: {e['msg']}"
            for e in error.errors()
        )
        raise GateRefusedError("manifest_invalid", f"{MANIFEST_FILE}: {problems}") from error


def _check_schema(manifest: BundleManifest, schema: FeatureSchema) -> None:
    if manifest.feature_schema_version != schema.version:
        raise GateRefusedError(
            "feature_schema_mismatch",
            f"bundle uses feature schema v{manifest.feature_schema_version}; "
            f"the feature service serves v{schema.version}",
        )
    if tuple(manifest.feature_names) != schema.names:
        unknown = sorted(set(manifest.feature_names) - set(schema.names))
        absent = sorted(set(schema.names) - set(manifest.feature_names))
        detail = (
            f"unknown features {unknown}, missing features {absent}"
            if unknown or absent
            else "same names in another order"
        )
        raise GateRefusedError(
            "feature_schema_mismatch",
            f"bundle feature names differ from feature schema v{schema.version}: {detail}",
        )
    if (
        manifest.feature_schema_fingerprint is not None
        and manifest.feature_schema_fingerprint != schema.fingerprint()
    ):
        raise GateRefusedError(
            "feature_schema_mismatch",
            "bundle feature schema fingerprint differs from the feature service's",
        )


def _check_signature(session: ort.InferenceSession, n_features: int) -> None:
    inputs = session.get_inputs()
    if [i.name for i in inputs] != [ONNX_INPUT]:
        raise GateRefusedError(
            "model_signature",
            f"model inputs are {[i.name for i in inputs]}; expected one named {ONNX_INPUT!r}",
        )
    shape = inputs[0].shape
    if len(shape) != 2 or not isinstance(shape[1], int):
        raise GateRefusedError(
            "model_signature", f"model input shape {shape} is not [N, n_features]"
        )
    if shape[1] != n_features:
        raise GateRefusedError(
            "wrong_feature_count",
            f"model takes {shape[1]} features; the manifest names {n_features}",
        )
    if inputs[0].type != "tensor(float)":
        raise GateRefusedError(
            "model_signature", f"model input is {inputs[0].type}; expected tensor(float)"
        )
    outputs = [o.name for o in session.get_outputs()]
    if ONNX_OUTPUT not in outputs:
        raise GateRefusedError(
            "model_signature", f"model outputs are {outputs}; expected one named {ONNX_OUTPUT!r}"
        )


def _check_golden(model: LoadedModel) -> float:
    golden = model.manifest.golden_rows
    rows = np.asarray(golden.input_rows(), dtype=np.float64)
    try:
        outputs = model.probabilities(rows)
    except Exception as error:  # the run itself failed: a broken graph
        raise GateRefusedError(
            "golden_run_failed", f"model fails on its golden rows: {error}"
        ) from error
    if outputs.shape != (len(rows),):
        raise GateRefusedError(
            "golden_output_invalid",
            f"model gives {outputs.size} outputs for {len(rows)} golden rows",
        )
    for index, value in enumerate(outputs.tolist()):
        if not math.isfinite(value):
            raise GateRefusedError(
                "golden_output_nan", f"model output for golden row {index} is {value}"
            )
        if not 0.0 <= value <= 1.0:
            raise GateRefusedError(
                "golden_output_out_of_range",
                f"model output for golden row {index} is {value}, outside [0, 1]",
            )
    errors = np.abs(outputs - np.asarray(golden.outputs, dtype=np.float64))
    worst = int(np.argmax(errors))
    if errors[worst] > golden.tolerance:
        raise GateRefusedError(
            "golden_output_mismatch",
            f"model output for golden row {worst} is {outputs[worst]:.6f}; the manifest "
            f"expects {golden.outputs[worst]:.6f} (tolerance {golden.tolerance})",
        )
    try:
        model.contributions(rows)
    except (IndexError, ValueError) as error:
        raise GateRefusedError(
            "reason_table_invalid", f"reason table fails on the golden rows: {error}"
        ) from error
    return float(errors[worst])


def check_adverse_impact(manifest: BundleManifest, minimum: float | None) -> None:
    """The publish gate's fairness check: GateRefusedError ``adverse_impact_below_threshold``
    when ``minimum`` is set and the bundle's measured adverse-impact ratio is below it. A
    bundle that measured none (its data named no protected group) passes: there is nothing
    to hold against it."""
    if minimum is None or manifest.fairness is None:
        return
    ratio = manifest.fairness.adverse_impact_ratio
    if ratio is not None and ratio < minimum:
        raise GateRefusedError(
            "adverse_impact_below_threshold",
            f"bundle's adverse-impact ratio {ratio:.3f} is below the required {minimum:.3f}",
        )


def open_bundle(bundle: Path, schema: FeatureSchema) -> LoadedModel:
    """Loads and gates the bundle directory ``bundle``; GateRefusedError if it must not be
    served. Blocking (file reads and session construction): call it off the event loop."""
    if not bundle.is_dir():
        raise GateRefusedError("bundle_missing", f"{bundle} is not a bundle directory")
    manifest = read_manifest(bundle)
    _check_schema(manifest, schema)
    model_path = bundle / MODEL_FILE
    if not model_path.is_file():
        raise GateRefusedError("model_missing", f"{model_path} does not exist")
    session = _session(model_path)
    _check_signature(session, len(manifest.feature_names))
    try:
        table = ReasonTable.load(bundle / manifest.reason_codes.table)
    except BundleError as error:
        raise GateRefusedError("reason_table_invalid", str(error)) from error
    if table.n_features != len(manifest.feature_names):
        raise GateRefusedError(
            "reason_table_invalid",
            f"reason table has {table.n_features} feature columns; "
            f"the manifest names {len(manifest.feature_names)}",
        )
    loaded = LoadedModel(manifest, session, table, bundle, golden_max_error=0.0)
    worst = _check_golden(loaded)
    return LoadedModel(manifest, session, table, bundle, golden_max_error=worst)
