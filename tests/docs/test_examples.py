from pathlib import Path

from schemas.events import EVENT_MODELS, parse_trusted_event

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def test_every_example_event_is_valid_and_unique() -> None:
    lines = [line for line in (EXAMPLES / "events.jsonl").read_text().splitlines() if line.strip()]
    events = [parse_trusted_event(line) for line in lines]
    assert {e.event_type for e in events} == set(EVENT_MODELS)
    assert len({e.event_id for e in events}) == len(events)
