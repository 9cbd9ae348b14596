from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from training.bundle import (
    _float32_floor,
    check_parity,
    convert_to_onnx,
    golden_inputs,
    onnx_predict,
    onnx_session,
    snap_thresholds_to_float32,
)
from training.errors import TrainingError
from training.reason_table import build_reason_table


def _booster(seed: int, rounds: int = 20) -> tuple[lgb.Booster, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = (rng.lognormal(8, 1.5, size=(1500, 4)) + rng.random((1500, 4))).astype(np.float32)
    x = x.astype(np.float64)
    x[rng.random(x.shape) < 0.1] = np.nan
    y = (np.nan_to_num(x[:, 0]) + rng.normal(0, 3000, 1500) > 3000).astype(int)
    params = {"objective": "binary", "verbose": -1, "num_leaves": 7, "seed": seed}
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=rounds), x


@pytest.mark.parametrize(
    "value", [0.1, 1e-35, -3.3, 123456.789, 2.0**-140, 1.0, 1.7976931348623157e308]
)
def test_float32_floor_is_the_largest_float32_not_above(value: float) -> None:
    floor = _float32_floor(value)
    assert floor <= value
    assert float(np.float32(floor)) == floor
    with np.errstate(over="ignore"):
        next_up = float(np.nextafter(np.float32(floor), np.float32(np.inf)))
    assert next_up > value


def test_snapping_keeps_every_prediction_and_makes_thresholds_float32() -> None:
    booster, x = _booster(1)
    snapped = snap_thresholds_to_float32(booster)
    np.testing.assert_array_equal(snapped.predict(x), booster.predict(x))
    for tree in snapped.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "threshold" in node:
                assert float(np.float32(node["threshold"])) == pytest.approx(node["threshold"])
                stack += [node["left_child"], node["right_child"]]


def test_the_onnx_model_matches_lightgbm_on_float32_rows() -> None:
    booster, x = _booster(2)
    snapped = snap_thresholds_to_float32(booster)
    model = convert_to_onnx(snapped, x.shape[1])
    parity = check_parity(snapped, model, build_reason_table(snapped), x)
    assert parity["onnx_max_abs_diff"] <= 1e-5
    assert parity["reason_table_max_abs_diff"] <= 1e-5
    assert onnx_predict(onnx_session(model), x[:3]).shape == (3,)


def test_export_fails_when_the_onnx_model_is_not_the_booster() -> None:
    booster, x = _booster(3)
    other, _ = _booster(4)
    snapped = snap_thresholds_to_float32(booster)
    with pytest.raises(TrainingError, match="ONNX output differs"):
        check_parity(snapped, convert_to_onnx(other, x.shape[1]), build_reason_table(snapped), x)


def test_export_fails_when_the_reason_table_is_not_the_booster() -> None:
    booster, x = _booster(5)
    other, _ = _booster(6)
    snapped = snap_thresholds_to_float32(booster)
    with pytest.raises(TrainingError, match="reason table differs"):
        check_parity(snapped, convert_to_onnx(snapped, x.shape[1]), build_reason_table(other), x)


def test_golden_inputs_write_nan_as_null_and_add_an_empty_row() -> None:
    x = np.array([[1.0, np.nan], [2.0, 3.0], [4.0, 5.0]])
    rows = golden_inputs(x, count=2)
    assert rows == [[1.0, None], [4.0, 5.0], [None, None]]
