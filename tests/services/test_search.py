"""Search with its 5-minute cache (Redis and in-process) and the stale fallback."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pybreaker
import pytest
import redis.asyncio as aioredis

from medianest.config import get_settings
from medianest.errors import IntegrationRejected, IntegrationUnavailable, ValidationFailed
from medianest.integrations.overseerr import OverseerrClient
from medianest.models import utcnow
from medianest.services import search
from medianest.simulators import fixtures
from tests.factories import make_follow, make_request, make_user

DUNE, SEVERANCE = 438631, 95396


@pytest.fixture
def overseerr(overseerr_server):
    overseerr_server.sim.reset()
    yield overseerr_server
    overseerr_server.sim.clear_faults()


def _client(handle) -> OverseerrClient:
    return OverseerrClient(handle.url, api_key=fixtures.OVERSEERR_API_KEY, timeout=1.0,
                           breaker=pybreaker.CircuitBreaker(fail_max=1000, exclude=[IntegrationRejected]))


@pytest.fixture(params=["memory", "redis"])
async def cache(request):
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


# --------------------------------------------------------------------------------------
# What MediaNest learned after a snapshot (cached results are shared by every member)
# --------------------------------------------------------------------------------------


async def _people(db):
    alice = make_user(db, username="alice", plex_id=1001, role="admin")
    bob = make_user(db, username="bob", plex_id=1002)
    await db.commit()
    return alice.id, bob.id


def _key(result) -> tuple[str, int]:
    return result.media_type, result.tmdb_id


async def test_a_title_that_became_available_after_the_snapshot_shows_available_with_its_link(
        db, overseerr, cache):
    alice, bob = await _people(db)
    snapshot = await search.search(_client(overseerr), cache, "dune")  # cached: "Not requested" for everyone
    (dune,) = [r for r in snapshot.results if r.tmdb_id == DUNE]
    assert dune.status == "unknown" and dune.plex_url is None
    link = "https://app.plex.tv/desktop#!/server/abc/details?key=%2Flibrary%2Fmetadata%2F77"
    make_request(db, bob, title="Dune", media_type="movie", tmdb_id=DUNE, status="available", plex_url=link,
                 completed_at=utcnow())  # the webhook/sync learned it
    await db.commit()
    again = await search.search(_client(overseerr), cache, "dune")
    assert again.from_cache and [r.status for r in again.results if r.tmdb_id == DUNE] == ["unknown"]
    for member in (alice, bob):
        info = await search.known(db, member, [_key(r) for r in again.results])
        (shown,) = [s for s in search.overlay(again.results, info, again.fetched_at) if s.result.tmdb_id == DUNE]
        assert (shown.result.status, shown.result.plex_url, shown.mine) == ("available", link, "")
        assert search.badge_for(shown.result.status) == ("available", "Available")
    # A snapshot taken after MediaNest learned it is Overseerr's newer word (e.g. deleted since).
    info = await search.known(db, alice, [("movie", DUNE)])
    later = dataclasses.replace(dune, status="deleted")
    assert search.overlay([later], info, time.time() + 1)[0].result.status == "deleted"


async def test_someone_elses_request_and_a_decline_since_the_snapshot(db, overseerr, cache):
    alice, bob = await _people(db)
    snapshot = await search.search(_client(overseerr), cache, "dune")
    (dune,) = [r for r in snapshot.results if r.tmdb_id == DUNE]
    row = make_request(db, bob, title="Dune", media_type="movie", tmdb_id=DUNE, status="pending")
    await db.commit()
    shown_alice = search.overlay([dune], await search.known(db, alice, [_key(dune)]), snapshot.fetched_at)[0]
    shown_bob = search.overlay([dune], await search.known(db, bob, [_key(dune)]), snapshot.fetched_at)[0]
    assert (shown_alice.result.status, shown_alice.mine) == ("pending", "")  # "Requested", no Request button
    assert (shown_bob.result.status, shown_bob.mine) == ("unknown", "pending")  # "You requested this"
    # A snapshot taken while it was pending keeps "pending" only until the decline is known.
    pending = dataclasses.replace(dune, status="pending")
    fetched = time.time()
    await asyncio.sleep(0.01)
    row.status, row.updated_at = "declined", utcnow()
    db.add(row)
    await db.commit()
    for member in (alice, bob):
        shown = search.overlay([pending], await search.known(db, member, [_key(dune)]), fetched)[0]
        assert (shown.result.status, shown.mine) == ("unknown", "")
        assert search.badge_for(shown.result.status) == search.NOT_REQUESTED


async def test_known_available_for_the_request_path(db):
    _, bob = await _people(db)
    assert await search.known_available(db, "movie", DUNE) is None
    make_follow(db, bob, media_type="movie", tmdb_id=DUNE, title="Dune", status="available",
                plex_url="https://app.plex.tv/x", notified_at=utcnow())
    make_request(db, bob, title="Severance", media_type="tv", tmdb_id=SEVERANCE, seasons=[1], status="available")
    await db.commit()
    assert (await search.known_available(db, "movie", DUNE)).plex_url == "https://app.plex.tv/x"
    assert await search.known_available(db, "tv", SEVERANCE, [1]) is not None
    assert await search.known_available(db, "tv", SEVERANCE, [1, 2]) is None  # season 2 is not known in Plex
