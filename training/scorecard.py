"""The baselines LightGBM must beat, fitted on exactly the rows it is fitted on.

- The **WoE scorecard**, the industry's reference model: optimal monotone weight-of-evidence
  binning of every input (optbinning; missing values get a bin of their own), a logistic
  regression on the bins' WoE, and a points table per bin under the bundle's score scaling.
- A **logistic regression** on the inputs themselves: signed log, median imputation with a
  missing indicator per input that has gaps, standardisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from optbinning import BinningProcess, Scorecard
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from riskmodel.manifest import ScoreScaling

Floats = npt.NDArray[np.float64]

MIN_BIN_SHARE = 0.05
"""Every bin of the scorecard holds at least this share of the training rows."""


@dataclass(frozen=True, slots=True)
class WoeScorecard:
    """A fitted WoE scorecard over named numeric inputs (NaN is missing)."""

    names: tuple[str, ...]
    scorecard: Any

    def predict_proba(self, x: Floats) -> Floats:
        """The probability of the bad class for each row."""
        frame = pd.DataFrame(np.asarray(x, dtype=np.float64), columns=list(self.names))
        return np.asarray(self.scorecard.predict_proba(frame)[:, 1], dtype=np.float64)

    def points_table(self) -> list[dict[str, Any]]:
        """Points per bin of every input the scorecard uses (a non-zero coefficient)."""
        table = self.scorecard.table(style="detailed")
        rows = []
        for record in table.to_dict(orient="records"):
            if float(record.get("Coefficient", 0.0)) == 0.0 or record["Count"] == 0:
                continue
            rows.append(
                {
                    "variable": str(record["Variable"]),
                    "bin": str(record["Bin"]),
                    "count": int(record["Count"]),
                    "event_rate": float(record["Event rate"]),
                    "woe": float(record["WoE"]),
                    "points": round(float(record["Points"]), 1),
                }
            )
        return rows


def fit_woe_scorecard(
    x: Floats, y: npt.NDArray[np.int64], names: Sequence[str], scaling: ScoreScaling
) -> WoeScorecard:
    """Monotone WoE binning of every input, logistic regression on the WoE, points under
    ``scaling`` (base score at base odds, points to double the odds)."""
    variables = list(names)
    binning = BinningProcess(
        variables,
        min_prebin_size=MIN_BIN_SHARE,
        max_n_prebins=20,
        binning_fit_params={n: {"monotonic_trend": "auto_asc_desc"} for n in variables},
    )
    scorecard = Scorecard(
        binning_process=binning,
        estimator=LogisticRegression(C=1.0, max_iter=2000),
        scaling_method="pdo_odds",
        scaling_method_params={
            "pdo": scaling.pdo,
            "odds": scaling.base_odds,
            "scorecard_points": scaling.base_score,
        },
    )
    scorecard.fit(pd.DataFrame(np.asarray(x, dtype=np.float64), columns=variables), y)
    return WoeScorecard(tuple(variables), scorecard)


def _signed_log(x: Floats) -> Floats:
    return np.sign(x) * np.log1p(np.abs(x))


def fit_logistic(x: Floats, y: npt.NDArray[np.int64], seed: int) -> Pipeline:
    """Logistic regression on signed-log, median-imputed, standardised inputs with a
    missing-value indicator per input that has gaps."""
    pipeline = make_pipeline(
        FunctionTransformer(_signed_log),
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=0.5, max_iter=2000, random_state=seed),
    )
    return pipeline.fit(x, y)
