"""The four-eyes change ledger on a real Kafka: a proposal recorded by one process is read
by another (a restart, another instance), approved there, and never read back as pending."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from schemas.changes import ChangeRequest
from services.common.changes import ChangeDesk, ChangeError, ChangeLedger
from services.common.kafka import ResilientProducer
from services.common.settings import ServiceSettings
from tests.support.clock import SettableClock

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def ledger(settings: ServiceSettings) -> AsyncIterator[ChangeLedger]:
    producer = ResilientProducer(settings, timeout_s=10)
    await producer.start()
    await producer.wait_connected(30)
    follower = ChangeLedger(settings, producer)
    task = asyncio.create_task(follower.run())
    try:
        await follower.wait_caught_up(30)
        yield follower
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await producer.stop()


async def applied(change: ChangeRequest, approver: str) -> dict[str, str]:
    return {"applied": change.target, "by": approver}


async def test_a_proposal_survives_a_restart_and_is_approved_by_another_person(
    service_settings: ServiceSettings,
) -> None:
    clock = SettableClock()
    async with ledger(service_settings) as first:
        desk = ChangeDesk("scorer", first, clock, {"model.activate": applied})
        change = await desk.propose("model.activate", target="v2", reason="r", proposer="ana")

    async with ledger(service_settings) as second:
        desk = ChangeDesk("scorer", second, clock, {"model.activate": applied})
        assert (await desk.get(change.change_id)).status == "proposed"
        with pytest.raises(ChangeError) as refused:
            await desk.approve(change.change_id, "ana", "mine")
        assert refused.value.code == "four_eyes"
        decided, result = await desk.approve(change.change_id, "lee", "checked")
        assert (decided.status, decided.decided_by, result["by"]) == ("applied", "lee", "lee")

    async with ledger(service_settings) as third:
        desk = ChangeDesk("scorer", third, clock, {"model.activate": applied})
        assert [c.status for c in await desk.list()] == ["applied"]
