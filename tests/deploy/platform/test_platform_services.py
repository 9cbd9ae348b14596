"""The services the platform runs: which of them are present."""

from __future__ import annotations

from pathlib import Path

from deploy.platform.services import ServiceSpec


def test_a_service_is_present_only_when_its_main_module_exists(tmp_path: Path) -> None:
    spec = ServiceSpec("probe", "pkg.probe", 1)
    (tmp_path / "pkg" / "probe").mkdir(parents=True)
    assert not spec.is_present(tmp_path)

    (tmp_path / "pkg" / "probe" / "__main__.py").write_text("")
    assert spec.is_present(tmp_path)
    assert spec.port_env == "RISKSTREAM_PROBE_PORT"
