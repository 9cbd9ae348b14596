"""The project's static gates, run by the suite so that CI enforces them: ruff (format and
lint, bandit rules on), mypy --strict, and the import-layering contracts of pyproject.toml
(docs/architecture.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

CHECKS = {
    "ruff-format": [str(BIN / "ruff"), "format", "--check", "."],
    "ruff-lint": [str(BIN / "ruff"), "check", "."],
    "mypy-strict": [str(BIN / "mypy")],
    "import-layering": [str(BIN / "lint-imports"), "--no-logo", "--no-cache"],
}


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_static_check_passes(check: str) -> None:
    result = subprocess.run(
        CHECKS[check], cwd=REPO, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, f"{check} failed:\n{result.stdout}\n{result.stderr}"
