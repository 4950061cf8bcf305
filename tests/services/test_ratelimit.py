"""Sign-in rate limit: 5 per 15 minutes per IP, in memory and in Redis, with the time to wait."""

from __future__ import annotations

import asyncio
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


async def test_simultaneous_attempts_never_share_the_last_slot(limiter):
    """20 attempts at once against a limit of 5: exactly 5 pass (a check and an add in two
    round trips let every attempt see the same free slot)."""
    results = await asyncio.gather(*(limiter.hit(LIMIT, "10.0.0.9") for _ in range(20)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, RateLimited)]
    assert results.count(None) == 5 and len(refused) == 15
    assert all(r.user_message == "Too many attempts. Try again in 15 minutes." for r in refused)


async def test_reset_frees_the_key(limiter):
    for _ in range(5):
        await limiter.hit(LIMIT, "10.0.0.3")
    await limiter.reset(LIMIT, "10.0.0.3")
    await limiter.hit(LIMIT, "10.0.0.3")


def test_humanize_wait():
    assert humanize_wait(1) == "1 second"
    assert humanize_wait(45) == "45 seconds"
    assert humanize_wait(61) == "2 minutes"
    assert humanize_wait(900) == "15 minutes"
