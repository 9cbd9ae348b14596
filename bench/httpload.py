"""A load generator for HTTP/1.1 keep-alive endpoints that costs less than what it
measures: raw requests prepared once, written to a few persistent connections, responses
read by ``Content-Length``. A general client (parsing, pooling, redirects) would spend
more CPU per request than the scorer does on this shared machine."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from bench.stats import latency_summary


def raw_request(method: str, host: str, path: str, key: str, body: bytes = b"") -> bytes:
    """A complete HTTP/1.1 request with a bearer key and a JSON body, ready to write."""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def content_length(head: bytes) -> int:
    """The ``Content-Length`` of a response head (0 when absent)."""
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


class Connection:
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> int:
        """Writes ``raw``, reads the whole response and returns its status code."""
        self._writer.write(raw)
        head = await self._reader.readuntil(b"\r\n\r\n")
        await self._reader.readexactly(content_length(head))
        return int(head[9:12])

    def close(self) -> None:
        self._writer.close()


@dataclass
class LoadResult:
    """Latencies of the answered requests and how many were not 200."""

    seconds: float
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            **latency_summary(self.latencies_s),
            "errors": self.errors,
            "seconds": round(self.seconds, 2),
            "throughput_rps": round(len(self.latencies_s) / self.seconds, 1),
        }


async def closed_loop(
    host: str, port: int, requests: list[bytes], connections: int, seconds: float
) -> LoadResult:
    """``connections`` connections each send back to back for ``seconds``: the most the
    server answers (throughput) and its latency when saturated."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal errors
        connection = await Connection.open(host, port)
        index = offset
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                status = await connection.request(requests[index % len(requests)])
                latencies.append(time.perf_counter() - started)
                errors += status != 200
                index += connections
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(connections)))
    return LoadResult(time.perf_counter() - started, latencies, errors)


async def open_loop(
    host: str, port: int, requests: list[bytes], rate: float, seconds: float, connections: int = 64
) -> LoadResult:
    """Sends at ``rate`` requests per second on a schedule fixed in advance, whatever the
    answers' pace; a request's latency runs from its scheduled instant, so time spent
    queued behind slow answers counts (no coordinated omission)."""
    latencies: list[float] = []
    errors = 0
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await Connection.open(host, port))

    async def one(raw: bytes, scheduled: float) -> None:
        nonlocal errors
        connection = await pool.get()
        try:
            status = await connection.request(raw)
        finally:
            pool.put_nowait(connection)
        latencies.append(time.perf_counter() - scheduled)
        errors += status != 200

    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()
    for n in range(int(rate * seconds)):
        scheduled = started + n / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(requests[n % len(requests)], scheduled)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    while not pool.empty():
        pool.get_nowait().close()
    return LoadResult(elapsed, latencies, errors)
