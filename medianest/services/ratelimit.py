"""Moving-window rate limits through the ``limits`` package: its Redis storage when configured
(shared by every process), its memory storage otherwise.

Taking a slot is one atomic step in both storages (a Lua script in Redis, a per-key lock in
memory), so simultaneous attempts can never share the last free slot."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from ..errors import RateLimited


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    window_s: int

    def item(self) -> RateLimitItemPerSecond:
        return RateLimitItemPerSecond(self.limit, self.window_s, namespace=self.name)


def humanize_wait(seconds: int) -> str:
    if seconds < 60:
        return f"{max(seconds, 1)} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class RateLimiter:
    """``await limiter.hit(limit, key)`` counts an attempt or raises :class:`RateLimited`.

    Args:
        redis: The process's Redis client (its connection pool is shared); None keeps the
            counts in this process's memory (embedded mode).
        prefix: Put before every Redis key (``REDIS_PREFIX``).
    """

    def __init__(self, redis: aioredis.Redis | None = None, *, prefix: str = "medianest:") -> None:
        storage: Storage
        if redis is not None:
            # limits documents connection_pool but types **options as float | str | bool.
            storage = RedisStorage("async+redis://", implementation="redispy",
                                   connection_pool=redis.connection_pool,  # type: ignore[arg-type]
                                   key_prefix=f"{prefix}rl")
        else:
            storage = MemoryStorage()
        self._strategy = MovingWindowRateLimiter(storage)

    async def hit(self, limit: Limit, key: str, *, message: str = "Too many attempts.") -> None:
        item = limit.item()
        if await self._strategy.hit(item, key):
            return
        # Only for the message: the refusal above already happened atomically.
        stats = await self._strategy.get_window_stats(item, key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(f"{message} Try again in {humanize_wait(retry_after)}.", retry_after=retry_after)

    async def reset(self, limit: Limit, key: str) -> None:
        await self._strategy.clear(limit.item(), key)
