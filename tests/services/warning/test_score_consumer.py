import asyncio
import base64

import pytest
from aiokafka import ConsumerRecord
from prometheus_client import REGISTRY

from services.warning.consumer import ScoreConsumer
from services.warning.core import load_default_rules
from services.warning.rulebook import LiveRules, Rulebook
from services.warning.settings import WarningSettings
from services.warning.usecase import WarningDesk
from tests.services.warning.warning_fakes import FakeKafka, FakeStore, RecordingObserver, score
from tests.support.clock import SettableClock

TOPIC = "risk.scores"


def consumer_record(offset: int, value: bytes, key: bytes = b"c-1") -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=TOPIC,
        partition=2,
        offset=offset,
        timestamp=1_700_000_000_000,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key),
        serialized_value_size=len(value),
        headers=[],
    )


class Harness:
    def __init__(self) -> None:
        self.clock = SettableClock()
        self.store = FakeStore()
        self.kafka = FakeKafka()
        observer = RecordingObserver()
        rules = load_default_rules()
        initial = LiveRules(rules, "", "digest", "test", self.clock.now())
        rulebook = Rulebook(initial, self.kafka, self.clock, observer)
        desk = WarningDesk(
            rulebook, self.store, self.kafka, self.kafka, self.kafka, self.clock, observer
        )
        self.consumer = ScoreConsumer(
            WarningSettings(), desk, self.kafka, self.clock, asyncio.Event()
        )


@pytest.fixture
def harness() -> Harness:
    return Harness()


async def test_scores_become_actions(harness: Harness) -> None:
    record = score("c-1", harness.clock.now(), "D")
    await harness.consumer.handle([consumer_record(7, record.model_dump_json().encode())])
    assert [a.action for a in harness.kafka.actions] == [
        "cut_limit",
        "notify",
        "freeze_credit",
    ]
    assert harness.kafka.letters == []


async def test_bad_records_go_to_the_dead_letter_topic_with_where_and_why(
    harness: Harness,
) -> None:
    good = score("c-2", harness.clock.now(), "A").model_dump_json().encode()
    await harness.consumer.handle(
        [
            consumer_record(10, b"{not json"),
            consumer_record(11, b'{"score_id": "s"}'),
            consumer_record(12, good, key=b"c-2"),
        ]
    )
    letters = harness.kafka.letters
    assert [(d.offset, d.reason) for d in letters] == [
        (10, "invalid_json"),
        (11, "schema_violation"),
    ]
    assert letters[0].source_topic == TOPIC
    assert letters[0].partition == 2
    assert base64.b64decode(letters[0].value_b64) == b"{not json"
    assert harness.store.state("c-2").last_grade == "A"


async def test_a_score_whose_state_is_unreadable_is_dead_lettered(harness: Harness) -> None:
    harness.store.states["c-1"] = b"[]"
    record = score("c-1", harness.clock.now(), "D").model_dump_json().encode()
    await harness.consumer.handle([consumer_record(3, record)])
    (letter,) = harness.kafka.letters
    assert (letter.offset, letter.reason) == (3, "state_unreadable")
    assert harness.kafka.actions == []


async def test_the_stage_event_age_is_observed(harness: Harness) -> None:
    def observed() -> float:
        value = REGISTRY.get_sample_value(
            "riskstream_stage_event_age_seconds_count", {"stage": "warning"}
        )
        return value or 0.0

    before = observed()
    record = score("c-1", harness.clock.now(), "A").model_dump_json().encode()
    await harness.consumer.handle([consumer_record(1, record), consumer_record(2, b"{}")])
    assert observed() == before + 2
