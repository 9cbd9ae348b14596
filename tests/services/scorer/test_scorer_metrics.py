"""The scorer's model monitor: score histogram, feature age and the drift gauge, fed by the
scoring use case (no Redis, no Kafka)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest
from prometheus_client import REGISTRY

from riskmodel.loading import LoadedModel, open_bundle
from riskmodel.manifest import MANIFEST_FILE, BundleManifest
from schemas.features import FEATURE_SCHEMA
from services.scorer.metrics import DRIFT_PSI_NAME, PrometheusModelMonitor
from services.scorer.usecase import observed_score_rows
from tests.services.scorer.scorer_bundles import build_bundle
from tests.services.scorer.test_scorer_usecase import RecordingObserver

DRIFT_FEATURE = "payments_failed_30d"


def with_drift_baseline(bundle: Path) -> Path:
    """Adds training distributions of the score and of ``payments_failed_30d`` to the
    bundle's manifest (the tiny test model scores most rows near 700)."""
    path = bundle / MANIFEST_FILE
    document = orjson.loads(path.read_bytes())
    document["training_distributions"] = [
        {"name": "score", "edges": [600.0, 700.0], "shares": [0.2, 0.4, 0.4]},
        {"name": DRIFT_FEATURE, "edges": [1.0], "shares": [0.5, 0.3], "missing_share": 0.2},
    ]
    path.write_bytes(orjson.dumps(document))
    BundleManifest.model_validate(document)
    return bundle


@pytest.fixture(scope="module")
def watched_model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    bundle = build_bundle(tmp_path_factory.mktemp("b") / "drift", "drift-v1", bias=-3.0)
    return open_bundle(with_drift_baseline(bundle), FEATURE_SCHEMA)


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    return open_bundle(
        build_bundle(tmp_path_factory.mktemp("b") / "plain", "plain-v1"), FEATURE_SCHEMA
    )


def rows(count: int, failed_payments: float) -> np.ndarray:
    matrix = np.full((count, len(FEATURE_SCHEMA.names)), np.nan)
    matrix[:, FEATURE_SCHEMA.names.index(DRIFT_FEATURE)] = failed_payments
    return matrix


def drift_samples(monitor: PrometheusModelMonitor) -> dict[tuple[str, str], float]:
    (family,) = monitor.collect()
    assert family.name == DRIFT_PSI_NAME
    return {(s.labels["model_version"], s.labels["feature"]): s.value for s in family.samples}


def test_scored_rows_feed_the_score_histogram(watched_model: LoadedModel) -> None:
    def count() -> float:
        value = REGISTRY.get_sample_value(
            "riskstream_scorer_score_points_count", {"model_version": "drift-v1"}
        )
        return value or 0.0

    before = count()
    observed_score_rows(watched_model, rows(7, 0.0), RecordingObserver(), PrometheusModelMonitor())
    assert count() - before == 7


def test_drift_is_exported_once_the_window_has_enough_rows(watched_model: LoadedModel) -> None:
    monitor = PrometheusModelMonitor(window=50, min_rows=10)
    observed_score_rows(watched_model, rows(9, 0.0), RecordingObserver(), monitor)
    assert drift_samples(monitor) == {}
    observed_score_rows(watched_model, rows(1, 0.0), RecordingObserver(), monitor)
    psi = drift_samples(monitor)
    assert set(psi) == {("drift-v1", "score"), ("drift-v1", DRIFT_FEATURE)}
    # Every row has no failed payment (bin 0, trained share 0.5): a large, finite shift.
    assert 0.25 < psi["drift-v1", DRIFT_FEATURE] < 10


def test_a_bundle_without_a_baseline_exports_no_drift(
    watched_model: LoadedModel, plain_model: LoadedModel
) -> None:
    monitor = PrometheusModelMonitor(window=50, min_rows=1)
    observed_score_rows(watched_model, rows(3, 2.0), RecordingObserver(), monitor)
    assert drift_samples(monitor)
    observed_score_rows(plain_model, rows(3, 2.0), RecordingObserver(), monitor)
    assert drift_samples(monitor) == {}


def test_feature_age_is_observed() -> None:
    def count() -> float:
        return REGISTRY.get_sample_value("riskstream_scorer_features_age_seconds_count") or 0.0

    before = count()
    PrometheusModelMonitor().features_read(120.0)
    assert count() - before == 1
