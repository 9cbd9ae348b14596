import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from services.cli.main import app


def write_table(path: Path, rows: int = 600) -> None:
    rng = np.random.default_rng(5)
    lines = ["income,late_payments,region,defaulted"]
    for _ in range(rows):
        income = rng.normal(5000, 1500)
        late = int(rng.poisson(1.0))
        region = rng.choice(["north", "south", "east"])
        risk = 1 / (1 + np.exp(-(late * 1.2 - income / 2500)))
        lines.append(f"{income:.2f},{late},{region},{int(rng.random() < risk)}")
    path.write_text("\n".join(lines) + "\n")


def test_train_on_a_csv_writes_bundle_and_report(tmp_path: Path) -> None:
    table = tmp_path / "loans.csv"
    write_table(table)
    out = tmp_path / "bundle"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--csv",
            str(table),
            "--target",
            "defaulted",
            "--folds",
            "3",
            "--trials",
            "2",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert 0.5 < report["metrics"]["auc"] <= 1.0
    assert "ks" in report["metrics"]
    assert (out / "model.onnx").is_file()
    assert (out / "manifest.json").is_file()
    assert (out / "report.html").is_file()


def test_csv_training_needs_a_target(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    write_table(table, rows=20)
    result = CliRunner().invoke(app, ["train", "--csv", str(table), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
