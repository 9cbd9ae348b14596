"""The rule file on disk: hot reload when it changes, and atomic writes of accepted rules.

The watcher polls the file's modification time and size (cheap, and works on every file
system, including mounted config maps where inotify events are unreliable). A change is
handed to :meth:`Rulebook.replace`: a valid file becomes live, an invalid one is refused
with its line and reason and the old rules stay live. A change whose audit record could not
be written is retried on the next poll.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from pathlib import Path

from services.warning.errors import PublishUnavailableError, RulesError
from services.warning.rulebook import Rulebook

log = logging.getLogger(__name__)

FILE_ACTOR = "system:rules-file"
"""``actor`` of audit records for changes made by editing the rule file."""


def file_origin(path: Path) -> str:
    return f"file:{path}"


def write_atomically(path: Path, text: bytes) -> None:
    """Replaces ``path`` with ``text`` so that a reader sees the old or the new file, never
    a part of one (a temporary file in the same directory, then a rename)."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class RulesFileWatcher:
    """Reloads ``path`` into ``rulebook`` whenever its modification time or size changes."""

    def __init__(self, path: Path, rulebook: Rulebook, interval_s: float) -> None:
        self._path = path
        self._rulebook = rulebook
        self._interval_s = interval_s
        self._seen = self._signature()

    def _signature(self) -> tuple[int, int] | None:
        try:
            stat = self._path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    async def run(self) -> None:
        """Polls forever."""
        while True:
            await asyncio.sleep(self._interval_s)
            await self.check()

    async def check(self) -> None:
        """One poll: reloads the file if it changed since the last poll that handled it."""
        signature = self._signature()
        if signature == self._seen:
            return
        if signature is None:
            log.warning("rule file missing; the live rules stay", extra={"path": str(self._path)})
            self._seen = None
            return
        try:
            text = await asyncio.to_thread(self._path.read_bytes)
        except OSError as error:
            log.warning(
                "rule file unreadable", extra={"path": str(self._path), "error": str(error)}
            )
            return
        try:
            await self._rulebook.replace(
                text, origin=file_origin(self._path), source="file", actor=FILE_ACTOR
            )
        except RulesError as error:
            # Counted and audited by the rulebook; the file is judged again when it changes.
            log.info("rule file refused", extra={"line": error.line, "reason": error.reason})
        except PublishUnavailableError as error:
            log.error("rule file change not audited; retrying", extra={"error": str(error)})
            return
        self._seen = signature
