"""A bounded local spool of records that could not be produced yet: JSON lines in segment
files under one directory, replayed oldest first.

Segments are ``<directory>/<sequence>.jsonl``; new lines go to the newest segment until it
reaches ``segment_bytes``. A segment is deleted once every line of it was acknowledged, so
the spool's size is what is still owed to Kafka; it never grows beyond ``max_bytes`` (lines
that do not fit are refused and the caller counts them). The directory belongs to one
process: an exclusive lock on ``.lock`` refuses a second one.

Reading and deleting happen only in the owner's task, between appends, so a segment is never
read while half a line is written. A process that dies between producing a chunk and
recording it as consumed replays that chunk again on its next start (at-least-once:
readers of the records deduplicate by their id).
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from services.scorer.errors import SpoolError

_SUFFIX = ".jsonl"


@dataclass(frozen=True, slots=True)
class Chunk:
    """Lines read from the oldest segment, and where reading stopped."""

    lines: list[bytes]
    segment: Path
    end_offset: int


class Spool:
    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int) -> None:
        self._directory = directory
        self._max_bytes = max_bytes
        self._segment_bytes = segment_bytes
        self._lock: IO[bytes] | None = None
        self._segments: list[Path] = []
        self._sizes: dict[Path, int] = {}
        self._read_offset = 0
        """Where the next read of the oldest segment starts."""

    def open(self) -> None:
        """Takes the directory (creating it) and finds the segments left by an earlier
        run. Raises :class:`SpoolError` when another process holds it or it is unusable."""
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            lock = (self._directory / ".lock").open("wb")
        except OSError as error:
            raise SpoolError(f"cannot use spool directory {self._directory}: {error}") from error
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            lock.close()
            raise SpoolError(
                f"spool directory {self._directory} is in use by another process; "
                "give each scorer a directory of its own"
            ) from error
        self._lock = lock
        self._segments = sorted(
            self._directory.glob(f"*{_SUFFIX}"),
            key=lambda p: int(p.stem) if p.stem.isdigit() else -1,
        )
        if self._segments:
            _cut_torn_tail(self._segments[-1])
        self._sizes = {segment: segment.stat().st_size for segment in self._segments}
        self._read_offset = 0

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    @property
    def empty(self) -> bool:
        return not self._segments

    @property
    def size_bytes(self) -> int:
        return sum(self._sizes.values())

    def append(self, lines: list[bytes]) -> int:
        """Appends lines (each without a newline) while they fit under ``max_bytes``;
        returns how many were written (the first ones). Raises :class:`SpoolError` when
        the file system refuses."""
        room = self._max_bytes - self.size_bytes
        accepted: list[bytes] = []
        for line in lines:
            if len(line) + 1 > room:
                break
            accepted.append(line)
            room -= len(line) + 1
        if not accepted:
            return 0
        segment = self._writable_segment()
        data = b"".join(line + b"\n" for line in accepted)
        try:
            with segment.open("ab") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
        except OSError as error:
            raise SpoolError(f"cannot write spool segment {segment}: {error}") from error
        self._sizes[segment] = self._sizes.get(segment, 0) + len(data)
        return len(accepted)

    def _writable_segment(self) -> Path:
        if self._segments and self._sizes[self._segments[-1]] < self._segment_bytes:
            return self._segments[-1]
        sequence = int(self._segments[-1].stem) + 1 if self._segments else 0
        segment = self._directory / f"{sequence:012d}{_SUFFIX}"
        self._segments.append(segment)
        self._sizes[segment] = 0
        return segment

    def read(self, max_lines: int) -> Chunk | None:
        """Up to ``max_lines`` complete lines of the oldest segment from where reading
        stopped, or None when the spool is empty."""
        while self._segments:
            segment = self._segments[0]
            lines: list[bytes] = []
            try:
                with segment.open("rb") as file:
                    file.seek(self._read_offset)
                    offset = self._read_offset
                    for line in file:
                        if not line.endswith(b"\n"):
                            break  # a torn last line of a crashed run: nothing after it
                        offset += len(line)
                        if line.strip():
                            lines.append(line.rstrip(b"\n"))
                        if len(lines) >= max_lines:
                            break
            except FileNotFoundError:
                offset = self._sizes.get(segment, 0)
            if lines:
                return Chunk(lines, segment, offset)
            self._drop_oldest()
        return None

    def consume(self, chunk: Chunk) -> None:
        """Records a chunk as delivered: the next read starts after it, and a segment read
        to its end is deleted."""
        if not self._segments or self._segments[0] != chunk.segment:
            return
        self._read_offset = chunk.end_offset
        if self._read_offset >= self._sizes[chunk.segment]:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        segment = self._segments.pop(0)
        self._sizes.pop(segment, None)
        self._read_offset = 0
        try:
            segment.unlink(missing_ok=True)
        except OSError as error:
            raise SpoolError(f"cannot delete spool segment {segment}: {error}") from error


def _cut_torn_tail(segment: Path) -> None:
    """Drops a last line without its newline (a write cut short by a crash), so that lines
    appended now start on a line of their own."""
    data = segment.read_bytes()
    if data and not data.endswith(b"\n"):
        with segment.open("r+b") as file:
            file.truncate(data.rfind(b"\n") + 1)
