from pathlib import Path

import pytest

from services.warning.core import DEFAULT_RULES_PATH
from services.warning.errors import PublishUnavailableError, RulesError
from services.warning.rulebook import LiveRules, Rulebook, digest_of
from tests.services.warning.warning_fakes import (
    BAD_RULES,
    SMALL_RULES,
    FakeKafka,
    RecordingObserver,
)
from tests.support.clock import SettableClock

DEFAULT_TEXT = DEFAULT_RULES_PATH.read_bytes()


@pytest.fixture
def kafka() -> FakeKafka:
    return FakeKafka()


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()


@pytest.fixture
def rulebook(kafka: FakeKafka, observer: RecordingObserver) -> Rulebook:
    clock = SettableClock()
    initial = LiveRules.parse(DEFAULT_TEXT, "file:default.yaml", clock.now())
    return Rulebook(initial, kafka, clock, observer)


async def test_a_valid_rule_set_is_audited_then_made_live(
    rulebook: Rulebook, kafka: FakeKafka, observer: RecordingObserver
) -> None:
    change = await rulebook.replace(SMALL_RULES, origin="api", source="api", actor="admin:1")
    assert change.changed
    assert rulebook.current().version == "small.1"
    (audit,) = kafka.audits
    assert audit.operation == "rules.reload"
    assert audit.actor == "admin:1"
    assert audit.details["new_sha256"] == digest_of(SMALL_RULES)
    assert audit.details["rule_ids"] == ["grade_d"]
    assert observer.live[-1] == ("small.1", digest_of(SMALL_RULES))


async def test_an_invalid_rule_set_is_refused_with_its_line_and_the_old_rules_stay(
    rulebook: Rulebook, kafka: FakeKafka, observer: RecordingObserver
) -> None:
    live_version = rulebook.current().version
    with pytest.raises(RulesError) as refused:
        await rulebook.replace(BAD_RULES, origin="api", source="api", actor="admin:1")
    assert refused.value.line == 6
    assert rulebook.current().version == live_version
    (audit,) = kafka.audits
    assert audit.operation == "rules.reload_refused"
    assert audit.details["line"] == 6
    assert observer.refused == ["api"]


async def test_the_live_text_again_changes_nothing_and_audits_nothing(
    rulebook: Rulebook, kafka: FakeKafka
) -> None:
    change = await rulebook.replace(DEFAULT_TEXT, origin="api", source="api", actor="admin:1")
    assert not change.changed
    assert kafka.audits == []


async def test_a_change_that_cannot_be_audited_is_refused(
    rulebook: Rulebook, kafka: FakeKafka, observer: RecordingObserver
) -> None:
    kafka.available = False
    live_version = rulebook.current().version
    with pytest.raises(PublishUnavailableError):
        await rulebook.replace(SMALL_RULES, origin="api", source="api", actor="admin:1")
    assert rulebook.current().version == live_version
    assert observer.refused == ["api"]


async def test_persist_writes_the_accepted_text_before_the_swap(
    rulebook: Rulebook, tmp_path: Path
) -> None:
    written: list[tuple[bytes, str]] = []

    def persist(text: bytes) -> None:
        written.append((text, rulebook.current().version))

    await rulebook.replace(
        SMALL_RULES, origin="api", source="api", actor="admin:1", persist=persist
    )
    assert written == [(SMALL_RULES, "2026-12-01.1")]
