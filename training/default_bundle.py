"""The default model bundle the local platform serves when no model exists yet.

``python -m training.default_bundle DIR`` trains it into DIR unless DIR already holds a
manifest. The simulated period starts on a fixed day, so the same code always trains the
same bundle and the figures in docs/model.md can be reproduced. Its population size and
LightGBM settings were chosen on the validation set by ``python -m training.sizing``.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from riskmodel.manifest import MANIFEST_FILE, trained_feature_schema
from schemas.features import FEATURE_SCHEMA
from training.train import TrainingConfig, TrainResult, train_from_simulation

DEFAULT_CUSTOMERS = 2_000
DEFAULT_DAYS = 240
DEFAULT_SEED = 20_261_127
DEFAULT_START = datetime(2025, 6, 1, tzinfo=UTC)
"""A period with both shopping festivals ("618" and "Double 11") in it."""
DEFAULT_CONFIG = TrainingConfig()
"""The candidate setting chosen at that size (``training.sizing``: 7-leaf trees of depth 3,
leaves of at least 30 rows, learning rate 0.05)."""


def train_default_bundle(out_dir: str | Path) -> TrainResult:
    """Trains the default bundle (2,000 simulated customers over 240 days, 7-leaf trees of
    depth 3) into ``out_dir``, with its report."""
    return train_from_simulation(
        DEFAULT_CUSTOMERS,
        DEFAULT_DAYS,
        DEFAULT_SEED,
        out_dir,
        start=DEFAULT_START,
        config=replace(DEFAULT_CONFIG, seed=DEFAULT_SEED),
    )


def main(argv: list[str]) -> int:
    """Entry point: ``python -m training.default_bundle DIR``; does nothing when DIR already
    holds a bundle manifest, unless that bundle was trained for another feature schema (a
    scorer would refuse it): then it is trained again in its place."""
    if len(argv) != 1:
        print("usage: python -m training.default_bundle DIR", file=sys.stderr)
        return 2
    out_dir = Path(argv[0])
    trained_for = trained_feature_schema(out_dir)
    if (out_dir / MANIFEST_FILE).is_file():
        if trained_for in (None, FEATURE_SCHEMA.fingerprint()):
            print(f"{out_dir} already holds a bundle")
            return 0
        print(f"{out_dir} holds a bundle for another feature schema: training it again")
    result = train_default_bundle(out_dir)
    metrics = result.metrics
    print(
        f"bundle {result.manifest.model_version} in {out_dir}: "
        f"test AUC {metrics['auc']:.3f}, KS {metrics['ks']:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
