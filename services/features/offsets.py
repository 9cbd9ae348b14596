"""A faust consumer that never skips a record of the event topics.

faust-streaming 0.15 with aiokafka 0.14 loses records around a rebalance or a restart in
three ways; :class:`NoSkipConsumer` closes each.

1. **Records delivered before the seek.** After a rebalance faust makes the stream
   partitions fetchable and *then* seeks them to their committed offsets. Records the
   fetcher delivers in between go into the stream's queue, which is emptied when the flow
   resumes right after the seek; the same records fetched again after the seek are then
   dropped as already read (faust's read offset was moved past them). Here the stream
   partitions become fetchable only when the flow resumes, after the seek.
2. **Partitions never committed.** aiokafka's ``seek_to_committed`` leaves a partition
   without a committed offset wherever the fetcher got to, past any record faust skipped.
   Here such a partition is sought to its first offset, what the ``earliest`` reset
   policy promises.
3. **Commits past a record in flight.** faust commits a run of acknowledged offsets even
   when it starts one past the committed offset (faust-streaming issues 606 and 596: a
   one-offset gap at the head is taken for a compacted-topic hole). The event topics are
   never compacted: here a commit must start exactly where reading started after the last
   seek.

Duplicates stay possible (at-least-once); the feature state dedupes them by event id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from faust.transport.drivers.aiokafka import Consumer
from faust.types import TP


def may_commit(first_acked: int, committed: int | None, read_from: int | None) -> bool:
    """True when the acknowledged run starting at ``first_acked`` continues the committed
    position (Kafka's next offset to read) or, with nothing committed, starts where
    reading started (``read_from``; None when unknown, which never commits)."""
    start = committed if committed is not None else read_from
    return start is not None and first_acked == start


class HeldPartitions:
    """Stream partitions faust made fetchable that stay unfetched until a seek that began
    after they were held has covered them. Each hold gets a serial number, so a partition
    forgotten and held again while a seek runs is not covered by that seek."""

    def __init__(self) -> None:
        self._held: dict[TP, int] = {}
        self._sought: set[TP] = set()
        self._serial = 0

    def hold(self, tps: set[TP]) -> None:
        for tp in tps:
            self._serial += 1
            self._held[tp] = self._serial
            self._sought.discard(tp)

    def forget(self, tps: set[TP]) -> None:
        """Paused again or revoked: faust resumes them (and they are held) anew."""
        for tp in tps:
            self._held.pop(tp, None)
            self._sought.discard(tp)

    def snapshot(self) -> dict[TP, int]:
        """The holds in force now, taken before a seek starts."""
        return dict(self._held)

    def sought(self, held_at_start: Mapping[TP, int]) -> None:
        """A seek that started with the holds ``held_at_start`` has finished."""
        self._sought |= {tp for tp, hold in held_at_start.items() if self._held.get(tp) == hold}

    def take_ready(self) -> set[TP]:
        """The held partitions a seek has covered, no longer held."""
        ready = {tp for tp in self._held if tp in self._sought}
        self.forget(ready)
        return ready


class NoSkipConsumer(Consumer):
    """faust's aiokafka consumer, holding stream partitions back until they are sought,
    seeking never-committed partitions to their start, and committing only contiguous
    runs (see the module docstring). Stream partitions are those of topics whose records
    are acknowledged; table changelogs are left to faust's recovery."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._read_from: dict[TP, int] = {}
        self._held = HeldPartitions()

    def _is_stream_tp(self, tp: TP) -> bool:
        return self.app.topics.acks_enabled_for(tp.topic)

    def resume_partitions(self, tps: Iterable[TP]) -> None:
        tpset = set(tps)
        stream = {tp for tp in tpset if self._is_stream_tp(tp)}
        self._held.hold(stream)
        super().resume_partitions(tpset - stream)

    def pause_partitions(self, tps: Iterable[TP]) -> None:
        tpset = set(tps)
        self._held.forget(tpset)
        super().pause_partitions(tpset)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self._held.forget(revoked)
        await super().on_partitions_revoked(revoked)

    def resume_flow(self) -> None:
        """Resumes the flow, then makes fetchable the held partitions a seek has covered:
        faust resumes the flow after its seek, and has just emptied the streams' queues."""
        super().resume_flow()
        ready = self._held.take_ready()
        if ready:
            super().resume_partitions(ready)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Seeks every assigned partition to its committed offset (faust's own seek) and
        every stream partition without one to its first offset; remembers where each now
        reads from. Returns the committed offsets, as faust expects."""
        held_at_start = self._held.snapshot()
        committed: Mapping[TP, int | None] = await super().seek_to_committed()
        never = [
            tp for tp, offset in committed.items() if offset is None and self._is_stream_tp(tp)
        ]
        first_offsets: Mapping[TP, int] = await self.earliest_offsets(*never) if never else {}
        if first_offsets:
            await self.seek_wait(first_offsets)
        self._read_from = {tp: offset for tp, offset in committed.items() if offset is not None}
        self._read_from.update(first_offsets)
        self._held.sought(held_at_start)
        return committed  # type: ignore[return-value]  # faust's annotation omits None

    def _new_offset(self, tp: TP) -> int | None:
        acked = self._acked[tp]
        if not acked:
            return None
        if not may_commit(min(acked), self._committed_offset[tp], self._read_from.get(tp)):
            return None
        result: int | None = super()._new_offset(tp)
        return result
