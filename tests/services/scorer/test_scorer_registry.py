from pathlib import Path

import pytest

from riskmodel.errors import GateRefusedError
from schemas.features import FEATURE_SCHEMA
from services.scorer.registry import ModelRegistry
from tests.services.scorer.scorer_bundles import build_bundle


def test_a_directory_without_a_manifest_is_refused_before_anything_is_copied(
    tmp_path: Path,
) -> None:
    not_a_bundle = tmp_path / "home"
    (not_a_bundle / "deep" / "tree").mkdir(parents=True)
    (not_a_bundle / "deep" / "tree" / "data.bin").write_bytes(b"x" * 1024)
    registry = ModelRegistry(tmp_path / "registry", FEATURE_SCHEMA)
    with pytest.raises(GateRefusedError) as refused:
        registry.publish(not_a_bundle)
    assert refused.value.code == "manifest_missing"
    assert not list((tmp_path / "registry").glob(".staging/*"))


def test_only_the_bundle_files_are_copied(tmp_path: Path) -> None:
    bundle = build_bundle(tmp_path / "bundle", "v7")
    (bundle / "scratch").mkdir()
    (bundle / "scratch" / "big.bin").write_bytes(b"x" * 4096)
    entry, created = ModelRegistry(tmp_path / "registry", FEATURE_SCHEMA).publish(bundle)
    assert created
    stored = tmp_path / "registry" / "v7"
    assert (stored / "manifest.json").is_file()
    assert not (stored / "scratch").exists()
    assert entry.model_version == "v7"


def test_a_path_the_filesystem_cannot_name_is_refused_as_no_bundle(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "registry", FEATURE_SCHEMA)
    with pytest.raises(GateRefusedError) as refused:
        registry.publish(tmp_path / ("0" * 300))
    assert refused.value.code == "bundle_missing"
