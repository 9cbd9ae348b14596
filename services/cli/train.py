"""``riskstream train``: a model bundle and its evaluation report (``report.html``,
``report.json``) in ``--out DIR``, from simulated customers or from a CSV file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from training.errors import TrainingError

if TYPE_CHECKING:
    from training.train import TrainResult

console = Console(stderr=True)


def train_command(
    out: Annotated[Path, typer.Option(help="Directory for the bundle and the report.")],
    csv: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Train on this CSV instead.")
    ] = None,
    target: Annotated[str | None, typer.Option(help="With --csv: the outcome column.")] = None,
    bad_value: Annotated[
        str, typer.Option(help="With --csv: the target value that means 'bad'.")
    ] = "1",
    folds: Annotated[int, typer.Option(min=2, max=20, help="With --csv: CV folds.")] = 5,
    customers: Annotated[int, typer.Option(min=100, help="Simulated customers.")] = 5000,
    days: Annotated[int, typer.Option(min=120, help="Simulated days.")] = 270,
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 42,
    keep_protected: Annotated[
        list[str] | None,
        typer.Option(
            help="Keep this protected column (sex, age, nationality...) as a model input; "
            "repeatable. Recorded in the manifest. By default every one is excluded."
        ),
    ] = None,
    trials: Annotated[
        int, typer.Option(min=1, help="With --csv: optuna trials per LightGBM search.")
    ] = 15,
) -> None:
    """Train LightGBM (with a scorecard baseline), export the ONNX bundle, write the report."""
    # Imported here so that other commands and --help do not load the simulator, LightGBM
    # and scikit-learn.
    from training.tabular import train_from_csv
    from training.train import train_from_simulation

    kept = keep_protected or []
    try:
        result: TrainResult
        if csv is not None:
            if not target:
                raise typer.BadParameter("--csv needs --target COLUMN")
            result = train_from_csv(
                csv, target, bad_value, out, folds, keep_protected=kept, trials=trials
            )
        else:
            result = train_from_simulation(customers, days, seed, out, keep_protected=kept)
    except TrainingError as error:
        console.print(f"[red]training refused: {error}")
        raise typer.Exit(1) from error
    fairness = result.manifest.fairness
    if fairness is not None:
        for column in fairness.excluded:
            console.print(f"excluded protected column {column.name} ({column.attribute})")
        for column in fairness.kept:
            console.print(f"[yellow]kept protected column {column.name} ({column.attribute})")
    metrics = result.metrics
    console.print(
        f"bundle {result.manifest.model_version} in {out}: AUC {metrics['auc']:.3f}, "
        f"KS {metrics['ks']:.3f}; report {out / 'report.html'}"
    )
