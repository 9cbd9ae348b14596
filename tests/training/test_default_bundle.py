from __future__ import annotations

from pathlib import Path

from riskmodel.manifest import MANIFEST_FILE
from training.default_bundle import main


def test_an_existing_bundle_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_FILE).write_text("{}", encoding="utf-8")
    assert main([str(tmp_path)]) == 0
    assert (tmp_path / MANIFEST_FILE).read_text(encoding="utf-8") == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST_FILE]


def test_usage_needs_exactly_one_directory() -> None:
    assert main([]) == 2
