"""Sign-in rate limit: 5 per 15 minutes per IP, in memory and in Redis, with the time to wait."""

from __future__ import annotations

import secrets

import pytest
import redis.asyncio as aioredis

from medianest.errors import RateLimited
from medianest.services.ratelimit import Limit, RateLimiter, humanize_wait

LIMIT = Limit("auth", 5, 900)


@pytest.fixture(params=["memory", "redis"])
async def limiter(request):
    if request.param == "memory":
        yield RateLimiter()
        return
    from medianest.config import get_settings

    client = aioredis.from_url(get_settings().redis_url)
    yield RateLimiter(client, prefix=f"{get_settings().redis_prefix}{secrets.token_hex(3)}:")
    await client.aclose()


async def test_sixth_attempt_is_refused_with_wait_time(limiter):
    for _ in range(5):
        await limiter.hit(LIMIT, "10.0.0.1", message="Too many sign-in attempts.")
    with pytest.raises(RateLimited) as info:
        await limiter.hit(LIMIT, "10.0.0.1", message="Too many sign-in attempts.")
    assert 890 <= info.value.retry_after <= 900
    assert info.value.user_message == "Too many sign-in attempts. Try again in 15 minutes."


async def test_other_ip_is_not_affected(limiter):
    for _ in range(5):
        await limiter.hit(LIMIT, "10.0.0.1")
    await limiter.hit(LIMIT, "10.0.0.2")


async def test_window_slides(limiter):
    short = Limit("short", 2, 1)
    await limiter.hit(short, "ip")
    await limiter.hit(short, "ip")
    with pytest.raises(RateLimited):
        await limiter.hit(short, "ip")
    import asyncio
    await asyncio.sleep(1.1)
    await limiter.hit(short, "ip")


def test_humanize_wait():
    assert humanize_wait(1) == "1 second"
    assert humanize_wait(45) == "45 seconds"
    assert humanize_wait(61) == "2 minutes"
    assert humanize_wait(900) == "15 minutes"
