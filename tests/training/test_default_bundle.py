from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from riskmodel.manifest import MANIFEST_FILE
from schemas.features import FEATURE_SCHEMA
from training import default_bundle
from training.default_bundle import main


def trained_into(calls: list[Path]) -> Callable[[Any], SimpleNamespace]:
    """A stand-in for training that records the directory it was asked to train into and
    returns what ``main`` prints of a result."""

    def train(out_dir: Any) -> SimpleNamespace:
        calls.append(Path(out_dir))
        return SimpleNamespace(
            metrics={"auc": 0.8, "ks": 0.4}, manifest=SimpleNamespace(model_version="fake")
        )

    return train


def test_an_existing_bundle_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_FILE).write_text("{}", encoding="utf-8")
    assert main([str(tmp_path)]) == 0
    assert (tmp_path / MANIFEST_FILE).read_text(encoding="utf-8") == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST_FILE]


def test_usage_needs_exactly_one_directory() -> None:
    assert main([]) == 2


def test_a_bundle_for_another_feature_schema_is_trained_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / MANIFEST_FILE).write_text(
        '{"feature_schema_fingerprint": "for-another-schema"}', encoding="utf-8"
    )
    trained: list[Path] = []
    monkeypatch.setattr(default_bundle, "train_default_bundle", trained_into(trained))
    assert main([str(tmp_path)]) == 0
    assert trained == [tmp_path]


def test_a_bundle_for_the_running_feature_schema_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = f'{{"feature_schema_fingerprint": "{FEATURE_SCHEMA.fingerprint()}"}}'
    (tmp_path / MANIFEST_FILE).write_text(manifest, encoding="utf-8")
    trained: list[Path] = []
    monkeypatch.setattr(default_bundle, "train_default_bundle", trained_into(trained))
    assert main([str(tmp_path)]) == 0
    assert trained == []
