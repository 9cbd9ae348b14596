"""Waiting in tests for something that happens in another process or task."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def wait_until(
    condition: Callable[[], bool],
    timeout_s: float = 15.0,
    what: str = "condition",
    interval_s: float = 0.1,
) -> None:
    """Returns once ``condition()`` holds; fails the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(interval_s)


async def wait_until_async(
    condition: Callable[[], bool],
    timeout_s: float = 15.0,
    what: str = "condition",
    interval_s: float = 0.1,
) -> None:
    """:func:`wait_until` for a coroutine: the event loop keeps running meanwhile."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        await asyncio.sleep(interval_s)
