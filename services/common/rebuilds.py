"""Detecting a lost Redis and making it whole again without a restart: each writer's
epoch key (see :mod:`services.common.redis_keys`), the guard that watches it, and the pace
at which a rebuild rewrites keys.

A rebuild goes: :meth:`EpochMarker.missing` finds partitions of the writer's process whose
bits are unset, :meth:`EpochMarker.begin` leaves a claim key, the writer rewrites every key
of those partitions from its copy in Kafka (batched, paced by :class:`Pacer`), and
:meth:`EpochMarker.complete` sets the bits, atomically and only if the claim is still
there. A flush during the rebuild removes the claim with everything else, so a rebuild
whose earlier writes were lost never marks them complete; the writer starts again.
:class:`EpochGuard` runs that loop for one writer process.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.common.metrics import REDIS_REBUILDING, REDIS_REBUILDS
from services.common.redis_client import as_bytes
from services.common.redis_keys import RedisKeys, Writer, epoch_partitions

log = logging.getLogger(__name__)

CLAIM_TTL_S = 24 * 3600
"""A claim left by a writer that died mid-rebuild expires after a day."""

_COMPLETE = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
for i = 1, #ARGV do
  redis.call('SETBIT', KEYS[1], ARGV[i], 1)
end
redis.call('DEL', KEYS[2])
return 1
"""


class EpochMarker:
    """One writer's epoch key. Every method is one Redis round trip and raises the
    client's errors (``RedisError``, ``OSError``) for the caller to retry."""

    def __init__(self, redis: Redis, keys: RedisKeys, writer: Writer) -> None:
        self._redis = redis
        self._keys = keys
        self._writer = writer
        self._key = keys.epoch(writer)
        self._complete = redis.register_script(_COMPLETE)

    async def missing(self, partitions: Iterable[int]) -> set[int]:
        """Which of ``partitions`` this Redis does not mark complete."""
        value = as_bytes(await self._redis.get(self._key))
        return set(partitions) - epoch_partitions(value)

    async def begin(self) -> str:
        """Starts a rebuild: leaves its claim key and returns its token."""
        token = uuid.uuid4().hex
        await self._redis.set(self._keys.rebuild_claim(self._writer, token), b"1", ex=CLAIM_TTL_S)
        return token

    async def complete(self, token: str, partitions: Iterable[int]) -> bool:
        """Marks ``partitions`` complete if the rebuild's claim survived (True), else
        changes nothing (False: Redis lost data since :meth:`begin`)."""
        claim = self._keys.rebuild_claim(self._writer, token)
        done = await self._complete(keys=[self._key, claim], args=sorted(set(partitions)))
        return bool(done)


class Pacer:
    """Spreads work so that no more than ``rate_per_s`` units go per second on average:
    the first batch goes at once, each later one waits its share of time. ``now`` and
    ``sleep`` are the monotonic clock and the sleep (settable in tests)."""

    def __init__(
        self,
        rate_per_s: float,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rate = rate_per_s
        self._now = now
        self._sleep = sleep
        self._next: float | None = None

    async def take(self, units: int) -> None:
        """Waits until ``units`` more may go."""
        now = self._now()
        if self._next is None or self._next < now:
            self._next = now
        wait_s = self._next - now
        self._next += units / self._rate
        if wait_s > 0:
            await self._sleep(wait_s)


Rewrite = Callable[[frozenset[int]], Awaitable[bool]]
"""Rewrites every key of the given partitions from Kafka; False when it had to stop
short (the partitions changed hands meanwhile)."""


class EpochGuard:
    """Keeps one writer process's share of Redis complete: every ``check_s`` it reads the
    epoch key and, when a partition the process owns is not marked complete (Redis lost
    data, or this is the first start), rewrites those partitions and marks them. Counts
    rebuilds (``riskstream_redis_rebuilds_total``) and flags one in progress
    (``riskstream_redis_rebuilding``)."""

    def __init__(self, writer: Writer, marker: EpochMarker, check_s: float) -> None:
        self._writer = writer
        self._marker = marker
        self._check_s = check_s
        self._rebuilds = REDIS_REBUILDS.labels(writer.value)
        self._rebuilding = REDIS_REBUILDING.labels(writer.value)
        self._complete = False
        self._running: asyncio.Task[bool] | None = None

    def complete(self) -> bool:
        """True when the last check found the owned partitions complete and no rebuild
        runs."""
        return self._complete and self._running is None

    async def details(self) -> dict[str, str]:
        """``{"store": "complete" | "rebuilding"}``, for ``/ready``."""
        return {"store": "complete" if self.complete() else "rebuilding"}

    async def run(self, owned: Callable[[], frozenset[int] | None], rewrite: Rewrite) -> None:
        """Checks forever. ``owned()`` names the partitions the process owns, or None
        while they are changing hands (nothing is checked then)."""
        while True:
            partitions = owned()
            if partitions:
                await self.check(partitions, rewrite)
            else:
                self._complete = False
            # Until complete (the first start, or Redis unreachable) it looks more often:
            # the process is not ready before.
            await asyncio.sleep(self._check_s if self._complete else min(self._check_s, 0.1))

    async def check(self, partitions: frozenset[int], rewrite: Rewrite) -> None:
        """Rebuilds whatever of ``partitions`` Redis does not mark complete; returns once
        done (or stopped, or failed: the next check starts over)."""
        try:
            missing = frozenset(await self._marker.missing(partitions))
        except (RedisError, OSError):
            self._complete = False
            return
        if not missing:
            self._complete = True
            return
        self._complete = False
        self._rebuilds.inc()
        self._rebuilding.set(1)
        extra = {"writer": self._writer.value, "partitions": sorted(missing)}
        log.warning("keys missing in Redis, rebuilding them from Kafka", extra=extra)
        running = self._running = asyncio.create_task(self._rebuild(missing, rewrite))
        try:
            await asyncio.wait([running])
        finally:
            # Also when this check is cancelled (the process stops): the rebuild goes too.
            running.cancel()
            self._running = None
            self._rebuilding.set(0)
        if running.cancelled():
            log.warning("rebuild stopped: partitions revoked", extra=extra)
        elif running.exception() is not None:
            log.warning("rebuild failed", extra={**extra, "error": repr(running.exception())})
        elif running.result():
            log.warning("rebuild done", extra=extra)
        else:
            log.warning("rebuild did not finish; starting over", extra=extra)

    async def _rebuild(self, partitions: frozenset[int], rewrite: Rewrite) -> bool:
        token = await self._marker.begin()
        return await rewrite(partitions) and await self._marker.complete(token, partitions)

    async def cancel(self) -> None:
        """Stops a rebuild in progress and returns once it has stopped (before the
        process gives its partitions away, so that it never overwrites a newer key)."""
        running = self._running
        if running is not None and not running.done():
            running.cancel()
            await asyncio.wait([running])
