"""The default model bundle the local platform serves when no model exists yet.

``python -m training.default_bundle DIR`` trains it into DIR (about half a minute on two
cores) unless DIR already holds a manifest.
"""

from __future__ import annotations

import sys
from pathlib import Path

from riskmodel.manifest import MANIFEST_FILE
from training.train import TrainResult, train_from_simulation

DEFAULT_CUSTOMERS = 1_500
DEFAULT_DAYS = 180
DEFAULT_SEED = 20_261_127


def train_default_bundle(out_dir: str | Path) -> TrainResult:
    """Trains the small default bundle (1,500 simulated customers over 180 days) into
    ``out_dir``, with its report."""
    return train_from_simulation(DEFAULT_CUSTOMERS, DEFAULT_DAYS, DEFAULT_SEED, out_dir)


def main(argv: list[str]) -> int:
    """Entry point: ``python -m training.default_bundle DIR``; does nothing when DIR already
    holds a bundle manifest."""
    if len(argv) != 1:
        print("usage: python -m training.default_bundle DIR", file=sys.stderr)
        return 2
    out_dir = Path(argv[0])
    if (out_dir / MANIFEST_FILE).is_file():
        print(f"{out_dir} already holds a bundle")
        return 0
    result = train_default_bundle(out_dir)
    metrics = result.metrics
    print(
        f"bundle {result.manifest.model_version} in {out_dir}: "
        f"test AUC {metrics['auc']:.3f}, KS {metrics['ks']:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
