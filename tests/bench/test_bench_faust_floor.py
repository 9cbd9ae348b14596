"""The faust floor relays a backlog of events with the worker's faust app."""

from pathlib import Path

import orjson
import pytest

from bench.feature_service import faust_floor_rate
from deploy.harness import ServiceProcess
from services.common.settings import ServiceSettings
from tests.support.streams import produce

pytestmark = pytest.mark.integration


async def test_the_faust_floor_relays_every_event_of_the_backlog(
    service_settings: ServiceSettings, service_env: dict[str, str], tmp_path: Path
) -> None:
    topics = service_settings.topics
    events = [
        (
            topics.event_topic("order"),
            f"c{n % 50}".encode(),
            orjson.dumps({"event_id": f"e{n}", "customer_id": f"c{n % 50}"}),
        )
        for n in range(3000)
    ]
    await produce(service_settings, events)
    # Never started: the floor runs in the worker's environment and run directory. Enough
    # records that the rate, taken between a tenth and nine tenths of them, has samples.
    worker = ServiceProcess("features", service_env, tmp_path)

    floor = await faust_floor_rate(worker, len(events), timeout_s=120.0)

    assert floor["records"] == len(events)
    assert floor["events_per_s"] > 0
