"""Sliding-window rate limits: Redis when configured (shared by every process), memory otherwise."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import deque
from dataclasses import dataclass

from ..errors import RateLimited


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    window_s: int


def humanize_wait(seconds: int) -> str:
    if seconds < 60:
        return f"{max(seconds, 1)} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class RateLimiter:
    """``await limiter.hit(limit, key)`` counts an attempt or raises :class:`RateLimited`."""

    def __init__(self, redis=None, *, prefix: str = "medianest:") -> None:  # noqa: ANN001
        self._redis = redis
        self._prefix = prefix
        self._memory: dict[str, deque[float]] = {}
        self._lock = asyncio.Lock()

    async def hit(self, limit: Limit, key: str, *, message: str = "Too many attempts.") -> None:
        now = time.time()
        name = f"{self._prefix}rl:{limit.name}:{key}"
        if self._redis is not None:
            count, oldest = await self._hit_redis(name, limit, now)
        else:
            count, oldest = await self._hit_memory(name, limit, now)
        if count > limit.limit:
            retry_after = max(1, math.ceil(oldest + limit.window_s - now))
            raise RateLimited(f"{message} Try again in {humanize_wait(retry_after)}.", retry_after=retry_after)

    async def _hit_memory(self, name: str, limit: Limit, now: float) -> tuple[int, float]:
        async with self._lock:
            hits = self._memory.setdefault(name, deque())
            while hits and hits[0] <= now - limit.window_s:
                hits.popleft()
            if len(hits) >= limit.limit:
                return len(hits) + 1, hits[0]
            hits.append(now)
            return len(hits), hits[0]

    async def _hit_redis(self, name: str, limit: Limit, now: float) -> tuple[int, float]:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(name, 0, now - limit.window_s)
            pipe.zcard(name)
            pipe.zrange(name, 0, 0, withscores=True)
            _, count, oldest = await pipe.execute()
        if count >= limit.limit:
            return count + 1, float(oldest[0][1]) if oldest else now
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(name, {uuid.uuid4().hex: now})
            pipe.expire(name, limit.window_s)
            await pipe.execute()
        return count + 1, float(oldest[0][1]) if oldest else now

    async def reset(self, limit: Limit, key: str) -> None:
        name = f"{self._prefix}rl:{limit.name}:{key}"
        if self._redis is not None:
            await self._redis.delete(name)
        else:
            self._memory.pop(name, None)
