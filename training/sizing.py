"""Choosing the default bundle's size and LightGBM settings on the validation set.

``python -m training.sizing [--out FILE]`` simulates each candidate population (same seed
and start as the default bundle), builds its point-in-time rows, splits them by date as
training does, fits every candidate setting on the training rows with early stopping on the
validation rows, and reports the validation AUC and the CPU time it took. The test rows are
never scored here. The choice is the best validation AUC among candidates whose simulation,
rows and fit fit in :data:`CPU_BUDGET_S`, so that the whole default bundle (baselines, export
and report included) trains in under a minute; validation AUCs equal to three decimals are
ties, which go to the smaller population, then to the setting listed first.
docs/model.md records the last run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from sklearn.metrics import roc_auc_score

from simulator import simulate
from training.catalogue import monotone_constraints
from training.dataset import build_dataset, split_by_time
from training.default_bundle import DEFAULT_DAYS, DEFAULT_SEED, DEFAULT_START
from training.train import Rows, TrainingConfig, fit_lightgbm

CANDIDATE_CUSTOMERS: tuple[int, ...] = (1_500, 2_000, 2_500, 3_000)
CANDIDATE_SETTINGS: dict[str, TrainingConfig] = {
    "leaf >= 30, rate 0.05": TrainingConfig(),
    "leaf >= 60, rate 0.05": TrainingConfig(min_child_samples=60),
    "leaf >= 30, rate 0.1": TrainingConfig(learning_rate=0.1),
    "leaf >= 60, rate 0.05, 60% of features per tree": TrainingConfig(
        min_child_samples=60, feature_fraction=0.6
    ),
}
"""Settings tried at every size. Trees stay at depth 3 with 7 leaves: the reason table
holds 2^depth x depth values per leaf, so deeper trees cost every served score more (depth
4 with 15 leaves reached 0.860 validation AUC at 2,000 customers against 0.850, for about
twice the reason-code time per row)."""
CPU_BUDGET_S = 40.0
"""CPU seconds a candidate's simulation, rows and fit may take: the rest of a default
bundle's training (baselines, ONNX export and parity checks, the report) takes about ten
more on this machine's cores."""


@dataclass(frozen=True, slots=True)
class Candidate:
    customers: int
    setting: str
    validation_auc: float
    trees: int
    cpu_seconds: float
    """Simulation and rows of this population, plus this setting's fit."""


def evaluate(
    customers_options: tuple[int, ...] = CANDIDATE_CUSTOMERS,
    settings: dict[str, TrainingConfig] | None = None,
) -> list[Candidate]:
    """Every (population, setting) candidate with its validation AUC and CPU time."""
    settings = settings or CANDIDATE_SETTINGS
    found: list[Candidate] = []
    for customers in customers_options:
        began = time.process_time()
        simulation = simulate(customers, DEFAULT_DAYS, DEFAULT_SEED, DEFAULT_START)
        split = split_by_time(build_dataset(simulation))
        data_seconds = time.process_time() - began
        monotone = monotone_constraints(split.train.feature_names)
        train = Rows(split.train.x, split.train.y)
        validation = Rows(split.validation.x, split.validation.y)
        for name, config in settings.items():
            fitted = time.process_time()
            booster = fit_lightgbm(train, validation, monotone, replace(config, seed=DEFAULT_SEED))
            auc = float(roc_auc_score(validation.y, booster.predict(validation.x)))
            found.append(
                Candidate(
                    customers=customers,
                    setting=name,
                    validation_auc=auc,
                    trees=booster.num_trees(),
                    cpu_seconds=data_seconds + time.process_time() - fitted,
                )
            )
    return found


def choose(candidates: list[Candidate], budget_s: float = CPU_BUDGET_S) -> Candidate:
    """The best validation AUC (to three decimals) within the budget; ties go to the
    smaller population, then to the candidate listed first. ValueError when no candidate
    fits the budget."""
    affordable = [c for c in candidates if c.cpu_seconds <= budget_s]
    if not affordable:
        raise ValueError(f"no candidate trains within {budget_s} CPU seconds")
    return max(affordable, key=lambda c: (round(c.validation_auc, 3), -c.customers))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.sizing", description=__doc__)
    parser.add_argument("--out", type=Path, help="also write the candidates as JSON here")
    args = parser.parse_args(argv)
    candidates = evaluate()
    chosen = choose(candidates)
    lines = ["| customers | setting | validation AUC | trees | CPU s |", "|---|---|---|---|---|"]
    for c in candidates:
        mark = " (chosen)" if c == chosen else ""
        lines.append(
            f"| {c.customers:,} | {c.setting}{mark} | {c.validation_auc:.3f} | {c.trees} "
            f"| {c.cpu_seconds:.0f} |"
        )
    print("\n".join(lines))
    if args.out is not None:
        args.out.write_text(
            json.dumps(
                {"candidates": [asdict(c) for c in candidates], "chosen": asdict(chosen)},
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
