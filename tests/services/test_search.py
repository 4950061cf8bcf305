"""Search with its 5-minute cache (Redis and in-process) and the stale fallback."""

from __future__ import annotations

import time

import pybreaker
import pytest
import redis.asyncio as aioredis

from medianest.config import get_settings
from medianest.errors import IntegrationRejected, IntegrationUnavailable, ValidationFailed
from medianest.integrations.overseerr import OverseerrClient
from medianest.services import search
from medianest.simulators import fixtures


@pytest.fixture
def overseerr(overseerr_server):  # noqa: ANN001, ANN201
    overseerr_server.sim.reset()
    yield overseerr_server
    overseerr_server.sim.clear_faults()


def _client(handle) -> OverseerrClient:  # noqa: ANN001
    return OverseerrClient(handle.url, api_key=fixtures.OVERSEERR_API_KEY, timeout=1.0,
                           breaker=pybreaker.CircuitBreaker(fail_max=1000, exclude=[IntegrationRejected]))


@pytest.fixture(params=["memory", "redis"])
async def cache(request):  # noqa: ANN001, ANN201
    if request.param == "memory":
        yield search.SearchCache()
        return
    client = aioredis.from_url(get_settings().redis_url)
    prefix = f"{get_settings().redis_prefix}searchtest{time.time_ns()}:"
    yield search.SearchCache(client, prefix=prefix)
    keys = [k async for k in client.scan_iter(f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_cached_for_five_minutes_then_asked_again(overseerr, cache):
    client = _client(overseerr)
    first = await search.search(client, cache, "  the   heat ")
    assert not first.from_cache and first.query == "the heat"
    titles = {r.title for r in first.results}
    assert titles == {"The Heat"}
    overseerr.sim.set_faults(status=500)  # a cached answer does not even ask Overseerr
    again = await search.search(client, cache, "The Heat")
    assert again.from_cache and not again.stale and {r.title for r in again.results} == titles
    overseerr.sim.clear_faults()
    refreshed = await search.search(client, cache, "the heat", fresh_s=0)
    assert not refreshed.from_cache


async def test_overseerr_down_serves_stale_results_or_a_plain_error(overseerr, cache):
    client = _client(overseerr)
    await search.search(client, cache, "matrix")
    overseerr.sim.set_faults(status=503)
    stale = await search.search(client, cache, "matrix", fresh_s=0)
    assert stale.stale and stale.from_cache and [r.title for r in stale.results] == ["The Matrix"]
    with pytest.raises(IntegrationUnavailable) as info:
        await search.search(client, cache, "never searched before", fresh_s=0)
    assert "not answering" in info.value.user_message


async def test_bad_queries_are_refused_before_overseerr(overseerr, cache):
    client = _client(overseerr)
    for query in ("", "   ", "x" * 101):
        with pytest.raises(ValidationFailed):
            await search.search(client, cache, query)
    with pytest.raises(ValidationFailed):
        await search.search(client, cache, "heat", page=0)


async def test_reserved_characters_reach_overseerr_encoded(overseerr, cache):
    # Overseerr answers 400 to a raw '+' or '&' in the query; the client must encode them.
    result = await search.search(_client(overseerr), cache, "Schindler's List & more + extra")
    assert result.total_results >= 0
    found = await search.search(_client(overseerr), cache, "Schindler's")
    assert [r.title for r in found.results] == ["Schindler's List"]


def test_badges():
    assert search.badge_for("available") == ("available", "Available")
    assert search.badge_for("partially_available") == ("partial", "Partly available")
    assert search.badge_for("processing") == ("processing", "Processing")
    assert search.badge_for("pending") == ("requested", "Requested")
    assert search.badge_for("unknown") == search.badge_for("other") == ("none", "Not requested")
