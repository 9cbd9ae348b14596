"""Async Redis client from settings (hiredis parser, bounded timeouts)."""

from __future__ import annotations

from redis.asyncio import Redis

from services.common.settings import ServiceSettings


def make_redis(settings: ServiceSettings, timeout_ms: float | None = None) -> Redis:
    """A client whose every command gives up after ``timeout_ms`` (default: the
    request-path budget ``redis_timeout_ms``; batch writers pass a longer one).

    TLS and ACL users are configured in the URL (``rediss://user:password@host:port/db``).
    """
    timeout_s = (timeout_ms if timeout_ms is not None else settings.redis_timeout_ms) / 1000
    return Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_timeout=timeout_s,
        socket_connect_timeout=max(timeout_s, 0.2),
        health_check_interval=0,
        retry_on_timeout=False,
    )


def as_bytes(value: bytes | str | None) -> bytes | None:
    """A value read by a client of :func:`make_redis`: bytes already (no
    ``decode_responses``), typed ``bytes | str`` by redis-py."""
    return value.encode() if isinstance(value, str) else value
