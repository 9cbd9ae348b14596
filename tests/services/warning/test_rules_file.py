import asyncio
import os
from pathlib import Path

import pytest

from services.warning.core import DEFAULT_RULES_PATH
from services.warning.rulebook import LiveRules, Rulebook
from services.warning.rules_file import RulesFileWatcher, write_atomically
from tests.services.warning.warning_fakes import (
    BAD_RULES,
    SMALL_RULES,
    FakeKafka,
    RecordingObserver,
)
from tests.support.clock import SettableClock


def touch_later(path: Path, text: bytes) -> None:
    """Writes ``text`` with a modification time certainly different from before."""
    before = path.stat().st_mtime_ns
    path.write_bytes(text)
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_bytes(DEFAULT_RULES_PATH.read_bytes())
    return path


@pytest.fixture
def kafka() -> FakeKafka:
    return FakeKafka()


@pytest.fixture
def rulebook(rules_path: Path, kafka: FakeKafka) -> Rulebook:
    clock = SettableClock()
    initial = LiveRules.parse(rules_path.read_bytes(), f"file:{rules_path}", clock.now())
    return Rulebook(initial, kafka, clock, RecordingObserver())


async def test_a_changed_valid_file_becomes_live(
    rules_path: Path, rulebook: Rulebook, kafka: FakeKafka
) -> None:
    watcher = RulesFileWatcher(rules_path, rulebook, 1.0)
    touch_later(rules_path, SMALL_RULES)
    await watcher.check()
    assert rulebook.current().version == "small.1"
    assert kafka.audits[-1].actor == "system:rules-file"


async def test_an_invalid_file_is_refused_once_and_the_old_rules_stay(
    rules_path: Path, rulebook: Rulebook, kafka: FakeKafka
) -> None:
    watcher = RulesFileWatcher(rules_path, rulebook, 1.0)
    touch_later(rules_path, BAD_RULES)
    await watcher.check()
    await watcher.check()
    assert rulebook.current().version == "2026-12-01.1"
    assert [a.operation for a in kafka.audits] == ["rules.reload_refused"]
    assert kafka.audits[0].details["line"] == 6


async def test_an_unaudited_file_change_is_retried_on_the_next_poll(
    rules_path: Path, rulebook: Rulebook, kafka: FakeKafka
) -> None:
    watcher = RulesFileWatcher(rules_path, rulebook, 1.0)
    kafka.available = False
    touch_later(rules_path, SMALL_RULES)
    await watcher.check()
    assert rulebook.current().version == "2026-12-01.1"
    kafka.available = True
    await watcher.check()
    assert rulebook.current().version == "small.1"


async def test_a_missing_file_keeps_the_live_rules(rules_path: Path, rulebook: Rulebook) -> None:
    watcher = RulesFileWatcher(rules_path, rulebook, 1.0)
    await asyncio.to_thread(rules_path.unlink)
    await watcher.check()
    assert rulebook.current().version == "2026-12-01.1"


def test_write_atomically_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "rules.yaml"
    target.write_bytes(b"old")
    write_atomically(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["rules.yaml"]
