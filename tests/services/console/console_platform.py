"""The whole platform for the console's browser tests: the session's Kafka and Redis, the
five services on free ports under a topic prefix of their own, a tiny model whose grades
are known in advance and the default rules with their waiting times removed."""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from deploy.harness import BackingServices, ServiceProcess
from deploy.platform.kafka import create_topics
from services.common.settings import ServiceSettings
from services.warning.core import DEFAULT_RULES_PATH
from tests.services.scorer.scorer_bundles import build_bundle

PASSWORD = "riskstream-dev"
"""The development accounts' password (the console runs with RISKSTREAM_ENV=test)."""
CLIENT = {"Authorization": "Bearer dev-client-key"}
LOGIN_ATTEMPTS = 3


def fast_rules(path: Path) -> Path:
    """The default rules, with no minimum time in state (a rule exits on its first
    qualifying score)."""
    text = DEFAULT_RULES_PATH.read_text()
    path.write_text(re.sub(r"min_hours_in_state: [0-9.]+", "min_hours_in_state: 0", text))
    return path


def as_user(name: str, role: str) -> dict[str, str]:
    """Headers of the console's delegate key acting for ``name``."""
    return {
        "Authorization": "Bearer dev-console-key",
        "X-Riskstream-Actor": name,
        "X-Riskstream-Actor-Role": role,
    }


@dataclass
class ConsolePlatform:
    settings: ServiceSettings
    env: dict[str, str]
    run_dir: Path
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    @property
    def console(self) -> str:
        return self.processes["console"].base_url

    def url(self, name: str) -> str:
        return self.processes[name].base_url

    def start(self) -> None:
        bundle = build_bundle(self.run_dir / "bundle", "console-1", bias=-4.0)
        rules = fast_rules(self.run_dir / "rules.yaml")
        for name, extra in (
            ("ingest", {}),
            ("features", {}),
            ("scorer", {"RISKSTREAM_DEFAULT_BUNDLE": str(bundle)}),
            ("warning", {"RISKSTREAM_RULES_PATH": str(rules)}),
        ):
            self.processes[name] = ServiceProcess(name, {**self.env, **extra}, self.run_dir)
            self.processes[name].start()
        console_env = {
            **self.env,
            "RISKSTREAM_WARNING_URL": self.url("warning"),
            "RISKSTREAM_SCORER_URL": self.url("scorer"),
            "RISKSTREAM_LOGIN_ATTEMPTS": str(LOGIN_ATTEMPTS),
        }
        self.processes["console"] = ServiceProcess("console", console_env, self.run_dir)
        self.processes["console"].start()

    def stop(self) -> None:
        for process in reversed(self.processes.values()):
            process.stop()

    def send(self, events: list[dict[str, object]]) -> None:
        response = httpx.post(
            f"{self.url('ingest')}/v1/events:batch",
            json={"events": events},
            headers=CLIENT,
            timeout=30,
        )
        assert response.status_code == 202, response.text


def console_platform(backing: BackingServices, run_dir: Path) -> ConsolePlatform:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    settings = ServiceSettings(
        env="test",
        kafka_bootstrap_servers=backing.kafka_bootstrap,
        redis_url=backing.redis_url,
        topic_prefix=prefix,
        redis_key_prefix=prefix.rstrip("."),
    )
    create_topics(backing.kafka_bootstrap, settings)
    env = {
        **os.environ,
        "RISKSTREAM_ENV": "test",
        "RISKSTREAM_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "RISKSTREAM_REDIS_URL": settings.redis_url.get_secret_value(),
        "RISKSTREAM_TOPIC_PREFIX": prefix,
        "RISKSTREAM_REDIS_KEY_PREFIX": settings.redis_key_prefix,
    }
    return ConsolePlatform(settings, env, run_dir)
