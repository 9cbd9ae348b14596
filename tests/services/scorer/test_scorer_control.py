"""The rollback history across scorer processes: each process records the ``active``
records it follows on ``models.control``, so a rollback sent to any process walks back the
activation another process made, even when each process has its own registry directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from schemas.features import FEATURE_SCHEMA
from schemas.records import AuditRecord, ModelControl
from services.common.clock import SystemClock
from services.scorer.admin import ModelAdmin
from services.scorer.control import ControlFollower
from services.scorer.holder import ModelHolder
from services.scorer.registry import ModelRegistry
from services.scorer.settings import ScorerSettings
from tests.services.scorer.scorer_bundles import build_bundle


class FanoutPublisher:
    """Stands in for Kafka: every control record reaches every process's follower."""

    def __init__(self) -> None:
        self.followers: list[ControlFollower] = []

    async def publish_control(self, record: ModelControl) -> None:
        for follower in self.followers:
            await follower.apply(record)

    async def publish_audit(self, record: AuditRecord) -> None:
        return None


@dataclass
class ScorerProcess:
    registry: ModelRegistry
    holder: ModelHolder
    admin: ModelAdmin

    def champion(self) -> str | None:
        model = self.holder.champion()
        return model.version if model is not None else None


def scorer_process(registry_dir: Path, publisher: FanoutPublisher) -> ScorerProcess:
    settings = ScorerSettings(env="test", model_registry_dir=registry_dir)
    registry = ModelRegistry(registry_dir, FEATURE_SCHEMA)
    holder = ModelHolder()
    publisher.followers.append(ControlFollower(settings, holder, registry, FEATURE_SCHEMA))
    admin = ModelAdmin(registry, publisher, holder, SystemClock(), 1.0, lambda _: None)
    return ScorerProcess(registry, holder, admin)


async def test_rollback_on_one_process_undoes_an_activation_made_on_another(
    tmp_path: Path,
) -> None:
    publisher = FanoutPublisher()
    first = scorer_process(tmp_path / "first", publisher)
    second = scorer_process(tmp_path / "second", publisher)
    v1 = build_bundle(tmp_path / "bundles" / "v1", "v1", bias=-3.0)
    v2 = build_bundle(tmp_path / "bundles" / "v2", "v2", bias=-1.5)
    # v1 is in both registries (as a default bundle would be); v2 only where it was published.
    for process in (first, second):
        process.registry.publish(v1)
    first.registry.publish(v2)

    await first.admin.activate("v1", "admin:test", "first model")
    await first.admin.activate("v2", "admin:test", "retrained")
    histories_after_activation = [p.registry.history() for p in (first, second)]
    rolled = await second.admin.rollback("admin:test", "v2 misbehaves")

    assert histories_after_activation == [["v1", "v2"], ["v1", "v2"]]
    assert rolled == {"role": "active", "model_version": "v1", "applied_locally": True}
    assert [p.champion() for p in (first, second)] == ["v1", "v1"]
    assert [p.registry.history() for p in (first, second)] == [["v1"], ["v1"]]


async def test_a_process_records_an_activation_it_already_serves(tmp_path: Path) -> None:
    publisher = FanoutPublisher()
    process = scorer_process(tmp_path / "registry", publisher)
    process.registry.publish(build_bundle(tmp_path / "bundles" / "v1", "v1"))
    await process.admin.activate("v1", "admin:test", "first model")
    (tmp_path / "registry" / "activations.json").unlink()

    await process.admin.activate("v1", "admin:test", "again")

    assert process.registry.history() == ["v1"]


@pytest.mark.parametrize(
    ("history", "activated", "expected"),
    [
        ([], "v1", ["v1"]),
        (["v1"], "v2", ["v1", "v2"]),
        (["v1", "v2"], "v2", ["v1", "v2"]),
        (["v1", "v2"], "v1", ["v1"]),
        (["v1", "v2", "v3"], "v2", ["v1", "v2"]),
        (["v1", "v2", "v3"], "v1", ["v1", "v2", "v3", "v1"]),
    ],
)
def test_recording_an_activation_appends_it_or_walks_back_to_it(
    tmp_path: Path, history: list[str], activated: str, expected: list[str]
) -> None:
    registry = ModelRegistry(tmp_path, FEATURE_SCHEMA)
    for version in history:
        registry.record_activation(version)

    registry.record_activation(activated)
    recorded_once = registry.history()
    registry.record_activation(activated)

    assert recorded_once == expected
    assert registry.history() == expected
