"""Offset commits that never pass a record the worker has not finished.

faust-streaming 0.15 commits a run of acknowledged offsets even when the run starts one
past the committed offset (faust-streaming issues 606 and 596: a one-offset gap at the head
is taken for a compacted-topic hole). A record still in flight, or dropped from the agent's
buffer during a rebalance, is then skipped for good. The event topics are never compacted,
so here a commit must start exactly where the last one ended (or, before the first, at
the first record read since the last seek).
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers.aiokafka import Consumer
from faust.types import TP, Message


def may_commit(first_acked: int, committed: int | None, first_read: int | None) -> bool:
    """True when the acknowledged run starting at ``first_acked`` continues the committed
    position (Kafka's next offset to read) or, with nothing committed, starts at the first
    record read."""
    start = committed if committed is not None else first_read
    return start is not None and first_acked == start


class ContiguousCommitConsumer(Consumer):
    """faust's aiokafka consumer with the stricter commit rule of :func:`may_commit`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._first_read: dict[TP, int] = {}

    def track_message(self, message: Message) -> None:
        self._first_read.setdefault(message.tp, message.offset)
        super().track_message(message)

    async def perform_seek(self) -> None:
        self._first_read.clear()
        await super().perform_seek()

    def _new_offset(self, tp: TP) -> int | None:
        acked = self._acked[tp]
        if not acked:
            return None
        if not may_commit(min(acked), self._committed_offset[tp], self._first_read.get(tp)):
            return None
        result: int | None = super()._new_offset(tp)
        return result
