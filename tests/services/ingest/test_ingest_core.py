from datetime import UTC, datetime

import orjson

from services.common.topics import TopicNames
from services.ingest.core import EventGateway, Outcome
from services.ingest.errors import PublishUnavailableError
from tests.support.clock import SettableClock

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class RecordingPublisher:
    def __init__(self, fail_topics: frozenset[str] = frozenset()) -> None:
        self.records: list[tuple[str, bytes, bytes]] = []
        self.fail_topics = fail_topics

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        if topic in self.fail_topics:
            raise PublishUnavailableError("down")
        self.records.append((topic, key, value))


def review(event_id: str = "r-1", **overrides: object) -> dict[str, object]:
    event: dict[str, object] = {
        "event_id": event_id,
        "event_type": "review",
        "customer_id": "c-9",
        "occurred_at": "2026-11-27T11:00:00Z",
        "order_id": "o-1",
        "review_id": "rv-1",
        "rating": 2,
        "flagged_abusive": False,
    }
    event.update(overrides)
    return event


async def test_valid_events_go_to_their_topic_keyed_by_customer() -> None:
    publisher = RecordingPublisher()
    gateway = EventGateway(publisher, TopicNames("p."), SettableClock(NOW))
    results = await gateway.submit([review()])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED]
    topic, key, value = publisher.records[0]
    assert (topic, key) == ("p.events.reviews", b"c-9")
    assert orjson.loads(value)["rating"] == 2


async def test_a_batch_answers_per_event_in_order() -> None:
    publisher = RecordingPublisher()
    gateway = EventGateway(publisher, TopicNames(), SettableClock(NOW))
    results = await gateway.submit(
        [review("a"), review("b", rating=9), "not an object", review("d")]
    )
    assert [r.outcome for r in results] == [
        Outcome.ACCEPTED,
        Outcome.REJECTED,
        Outcome.REJECTED,
        Outcome.ACCEPTED,
    ]
    assert results[1].errors[0]["field"] == "rating"
    assert results[1].event_id == "b"
    assert results[2].errors[0]["field"] == "body"
    assert [r.index for r in results] == [0, 1, 2, 3]
    assert len(publisher.records) == 2


async def test_an_unacknowledged_event_is_unavailable_not_accepted() -> None:
    gateway = EventGateway(
        RecordingPublisher(frozenset({"events.reviews"})), TopicNames(), SettableClock(NOW)
    )
    (result,) = await gateway.submit([review()])
    assert result.outcome is Outcome.UNAVAILABLE


async def test_an_unknown_event_type_names_event_type() -> None:
    gateway = EventGateway(RecordingPublisher(), TopicNames(), SettableClock(NOW))
    (result,) = await gateway.submit([review(event_type="login")])
    assert result.outcome is Outcome.REJECTED
    assert result.errors[0]["field"] == "event_type"
