"""deploy/k8s: every object validates against the schemas of a pinned Kubernetes version,
and the deployment says what docs/security.md and the platform promise: every variable is a
real RISKSTREAM_* setting, every container is probed on /live and /ready and scraped by
Prometheus, the scorer scales on CPU behind a Service, and feature workers keep their state
on their own volumes with room in the partition count to scale out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic_settings import BaseSettings

from services.features.settings import FeaturesSettings
from services.ingest.settings import IngestSettings
from services.scorer.settings import ScorerSettings
from services.warning.settings import WarningSettings

KUBERNETES_VERSION = "1.31.0"
"""The oldest Kubernetes the manifests are written for (autoscaling/v2, policy/v1)."""
MANIFESTS = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
SERVICES = {"ingest": 8001, "scorer": 8002, "warning": 8003, "features": 6066}


def documents() -> list[dict[str, Any]]:
    found = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return found


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents() if d["kind"] == kind}


def workloads() -> dict[str, dict[str, Any]]:
    return {**by_kind("Deployment"), **by_kind("StatefulSet")}


@pytest.mark.parametrize(
    "document", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}"
)
def test_every_object_validates_against_the_pinned_kubernetes_schemas(
    document: dict[str, Any],
) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(
        p.name for p in MANIFESTS.glob("*.yaml") if p.name != "kustomization.yaml"
    )


def setting_names(*classes: type[BaseSettings]) -> set[str]:
    return {f"RISKSTREAM_{field.upper()}" for cls in classes for field in cls.model_fields}


def test_config_and_secret_use_only_real_setting_names() -> None:
    known = setting_names(IngestSettings, ScorerSettings, WarningSettings, FeaturesSettings)
    config = by_kind("ConfigMap")["riskstream-config"]["data"]
    secret = by_kind("Secret")["riskstream-secrets"]["stringData"]
    assert set(config) - known == set()
    assert set(secret) - known == set()
    assert config["RISKSTREAM_ENV"] == "production"
    # Credentials live in the Secret only.
    credentials = {
        "RISKSTREAM_CLIENT_API_KEYS",
        "RISKSTREAM_ADMIN_API_KEYS",
        "RISKSTREAM_KAFKA_SASL_PASSWORD",
        "RISKSTREAM_REDIS_URL",
        "RISKSTREAM_PSEUDONYM_KEY",
    }
    assert credentials <= set(secret)
    assert credentials & set(config) == set()
    assert secret["RISKSTREAM_REDIS_URL"].startswith("rediss://")
    assert config["RISKSTREAM_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_is_probed_scraped_and_configured(service: str) -> None:
    workload = workloads()[f"riskstream-{service}"]
    pod = workload["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    port = SERVICES[service]

    assert container["command"] == ["python", "-m", f"services.{service}"]
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert pod["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": "/metrics",
    }
    assert {
        source.get("configMapRef", source.get("secretRef"))["name"]
        for source in container["envFrom"]
    } == {"riskstream-config", "riskstream-secrets"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_scorer_scales_on_cpu_behind_a_service() -> None:
    hpa = by_kind("HorizontalPodAutoscaler")["riskstream-scorer"]["spec"]
    service = by_kind("Service")["riskstream-scorer"]["spec"]
    deployment = by_kind("Deployment")["riskstream-scorer"]["spec"]

    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "riskstream-scorer",
    }
    assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu"]
    assert hpa["minReplicas"] >= 2
    assert deployment["replicas"] >= hpa["minReplicas"]
    assert service["selector"] == deployment["selector"]["matchLabels"]
    # Replicas share the registry: a volume every node can mount.
    claim = by_kind("PersistentVolumeClaim")["riskstream-models"]["spec"]
    assert claim["accessModes"] == ["ReadWriteMany"]


def test_feature_workers_keep_state_on_their_own_volumes_and_can_scale_out() -> None:
    statefulset = by_kind("StatefulSet")["riskstream-features"]["spec"]
    config = by_kind("ConfigMap")["riskstream-config"]["data"]
    (container,) = statefulset["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    (template,) = statefulset["volumeClaimTemplates"]

    assert config["RISKSTREAM_FEATURES_DATA_DIR"].startswith(mounts[template["metadata"]["name"]])
    assert template["spec"]["accessModes"] == ["ReadWriteOnce"]
    # Room for several times today's workers before partitions must be added.
    assert int(config["RISKSTREAM_EVENT_PARTITIONS"]) >= 4 * statefulset["replicas"]
    assert statefulset["serviceName"] in by_kind("Service")
