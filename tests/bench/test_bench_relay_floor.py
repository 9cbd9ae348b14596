"""The relay floor reads features.updates from the start, parses and produces each record."""

import orjson
import pytest

from bench.pipeline import relay_floor
from services.common.kafka import ensure_topics
from services.common.settings import ServiceSettings
from services.common.topics import Topic
from tests.support.streams import produce

pytestmark = pytest.mark.integration


async def test_the_relay_floor_handles_every_record_and_counts_its_cpu(
    service_settings: ServiceSettings,
) -> None:
    await ensure_topics(service_settings)
    topic = service_settings.topics(Topic.FEATURE_UPDATES)
    await produce(
        service_settings,
        [(topic, b"c%d" % n, orjson.dumps({"triggered_by": f"e{n}"})) for n in range(60)],
    )

    floor = await relay_floor(service_settings)

    assert floor["records"] == 60
    assert floor["cpu_us_per_record"] > 0
