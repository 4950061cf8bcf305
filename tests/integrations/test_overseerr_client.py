"""The Overseerr client against the simulator over real HTTP: typed results, both
flavours, the search encoding rule, error mapping and faults (integrations.md §3)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pybreaker
import pytest

from medianest.errors import IntegrationRejected, IntegrationUnavailable
from medianest.integrations.overseerr import (
    AlreadyRequested,
    ApiKeyRefused,
    OverseerrClient,
    OverseerrNotFound,
    RequestNotAllowed,
    media_status_name,
    request_status_name,
    search_query_string,
)
from medianest.simulators import fixtures
from medianest.simulators.overseerr import PROCESSING_DELAY_S, OverseerrHandle

BOB, CAROL = 2, 3
DUNE, OPPENHEIMER, HEAT, SEVERANCE, BREAKING_BAD = 438631, 872585, 949, 95396, 1396


@pytest.fixture
def overseerr(overseerr_server: OverseerrHandle) -> OverseerrHandle:
    return overseerr_server


@pytest.fixture(params=["overseerr", "seerr"])
def sim(overseerr: OverseerrHandle, request: pytest.FixtureRequest) -> Iterator[OverseerrHandle]:
    overseerr.sim.reset()
    overseerr.sim.set_flavour(request.param)
    yield overseerr
    overseerr.sim.clear_faults()


def _client(handle: OverseerrHandle, *, api_key: str = fixtures.OVERSEERR_API_KEY, timeout: float = 5.0
            ) -> OverseerrClient:
    # A private breaker, so failures provoked here never open the shared one.
    return OverseerrClient(handle.url, api_key=api_key, timeout=timeout,
                           breaker=pybreaker.CircuitBreaker(fail_max=100, exclude=[IntegrationRejected]))


@pytest.fixture
def client(sim: OverseerrHandle) -> OverseerrClient:
    return _client(sim)


def test_status_names_tolerate_both_flavours_and_unknown_values() -> None:
    assert [request_status_name(n) for n in (1, 2, 3, 4, 5, 9, None)] == [
        "pending", "approved", "declined", "failed", "completed", "other", "other"]
    assert [media_status_name(n) for n in (1, 4, 5, 6, 7, 42)] == [
        "unknown", "partially_available", "available", "blocklisted", "deleted", "other"]


def test_search_query_is_percent_encoded() -> None:
    assert search_query_string("the heat") == "query=the%20heat&page=1"
    assert search_query_string("Schindler's List", 2) == "query=Schindler%27s%20List&page=2"
    assert search_query_string("tmdb:949") == "query=tmdb%3A949&page=1"


async def test_status_and_search(client: OverseerrClient, sim: OverseerrHandle) -> None:
    status = await client.status()
    assert status.version == fixtures.OVERSEERR_VERSIONS[sim.sim.flavour]
    page = await client.search("the heat")  # a space: '+' would be refused by the server
    assert [(r.tmdb_id, r.title, r.year, r.status) for r in page.results] == [(136795, "The Heat", 2013, "unknown")]
    heat = (await client.search("tmdb:949")).results[0]
    assert (heat.media_type, heat.status, heat.media_id is not None) == ("movie", "available", True)
    assert (await client.search("Schindler's List")).results[0].tmdb_id == 424
    show = (await client.search("breaking bad")).results[0]
    assert (show.media_type, show.title, show.status) == ("tv", "Breaking Bad", "partially_available")


async def test_movie_and_tv_details(client: OverseerrClient) -> None:
    heat = await client.movie(HEAT)
    assert (heat.title, heat.status, heat.rating_key) == ("Heat", "available", str(fixtures.MOVIE_RATING_KEY_START))
    bb = await client.tv(BREAKING_BAD)
    assert [(s.season_number, s.status) for s in bb.seasons] == [
        (1, "available"), (2, "available"), (3, "unknown"), (4, "unknown"), (5, "unknown")]
    with pytest.raises(OverseerrNotFound) as exc:
        await client.movie(1)
    assert exc.value.status_code == 500 and exc.value.user_message == "That title could not be found."
    with pytest.raises(OverseerrNotFound):
        await client.tv(1)


async def test_member_request_is_pending_admin_approves(client: OverseerrClient, sim: OverseerrHandle) -> None:
    req = await client.create_request("movie", DUNE, as_user=BOB)
    assert (req.status, req.media_status, req.requested_by_plex_id, req.tmdb_id) == ("pending", "pending", 1002, DUNE)
    approved = await client.approve(req.id)
    # §3.15: the approval's answer still has the media PENDING; PROCESSING follows a moment later.
    assert (approved.status, approved.media_status, approved.modified_by_id) == ("approved", "pending", 1)
    await asyncio.sleep(PROCESSING_DELAY_S + 0.1)
    assert (await client.request(req.id)).media_status == "processing"
    sim.sim.mark_available(req.id)
    done = await client.request(req.id)
    assert done.media_status == "available"
    assert done.status == ("completed" if sim.sim.flavour == "seerr" else "approved")
    other = await client.create_request("movie", OPPENHEIMER, as_user=1)
    assert other.status == "approved"
    declined = await client.decline((await client.create_request("movie", 424, as_user=BOB)).id, "Not on our list")
    assert (declined.status, declined.media_status) == ("declined", "unknown")


async def test_watch_in_plex_link_from_either_flavour(client: OverseerrClient, sim: OverseerrHandle) -> None:
    # Overseerr sends plexUrl; Seerr 3.1 sends plexUrl null and the link in mediaUrl (§3.13).
    prefix = f"https://app.plex.tv/desktop#!/server/{sim.sim.state()['plex']['machineIdentifier']}/details?key="
    heat = (await client.search("tmdb:949")).results[0]
    assert heat.plex_url and heat.plex_url.startswith(prefix)
    assert (await client.movie(HEAT)).plex_url == heat.plex_url
    assert (await client.tv(BREAKING_BAD)).plex_url.startswith(prefix)
    req = await client.create_request("movie", DUNE, as_user=BOB)
    assert req.plex_url is None
    await client.approve(req.id)
    sim.sim.mark_available(req.id)
    done = await client.request(req.id)
    assert done.plex_url and done.plex_url.startswith(prefix) and done.plex_url.endswith(done.rating_key or "?")
    assert (await client.requests()).results[0].plex_url == done.plex_url


async def test_tv_request_seasons(client: OverseerrClient) -> None:
    req = await client.create_request("tv", BREAKING_BAD, as_user=BOB)
    assert (req.media_type, [s.season_number for s in req.seasons]) == ("tv", [3, 4, 5])
    assert {s.status for s in req.seasons} == {"pending"}
    two = await client.create_request("tv", SEVERANCE, [2], as_user=CAROL)
    assert [s.season_number for s in two.seasons] == [2]
    with pytest.raises(AlreadyRequested) as exc:
        await client.create_request("tv", BREAKING_BAD, [1, 4], as_user=CAROL)
    assert exc.value.status_code == 202 and "seasons" in exc.value.user_message


async def test_error_mapping_409_403_500(client: OverseerrClient, sim: OverseerrHandle) -> None:
    await client.create_request("movie", DUNE, as_user=BOB)
    with pytest.raises(AlreadyRequested) as dup:
        await client.create_request("movie", DUNE, as_user=CAROL)
    assert dup.value.status_code == 409 and dup.value.user_message == "This title has already been requested."
    assert isinstance(dup.value, IntegrationRejected)
    await client.create_request("movie", OPPENHEIMER, as_user=CAROL)
    with pytest.raises(RequestNotAllowed) as quota:
        await client.create_request("movie", 424, as_user=CAROL)
    assert quota.value.status_code == 403 and quota.value.quota_exceeded
    sim.sim.users[BOB]["permissions"] = 0
    with pytest.raises(RequestNotAllowed) as perm:
        await client.create_request("movie", 424, as_user=BOB)
    assert not perm.value.quota_exceeded and perm.value.user_message
    with pytest.raises(OverseerrNotFound):
        await client.create_request("movie", 1, as_user=1)
    with pytest.raises(OverseerrNotFound):
        await client.request(999)
    with pytest.raises(ApiKeyRefused) as refused:  # a wrong key is anonymous to Overseerr (§3.1)
        await _client(sim, api_key="wrong").approve(1)
    assert refused.value.status_code == 403 and "API key" in refused.value.user_message
    assert not isinstance(refused.value, RequestNotAllowed)  # the member is not the one refused


async def test_the_key_is_refused_on_calls_as_medianest_not_on_calls_as_a_member(sim: OverseerrHandle) -> None:
    wrong = _client(sim, api_key="wrong")
    with pytest.raises(ApiKeyRefused):
        await wrong.search("dune")
    with pytest.raises(ApiKeyRefused):
        await _client(sim, api_key=None).me()  # no key at all: 401
    me = await _client(sim).me()
    assert (me.id, me.display_name, me.is_admin) == (1, "alice", True)
    with pytest.raises(RequestNotAllowed):  # as a member: Overseerr's answer is about that member
        await wrong.create_request("movie", DUNE, as_user=BOB)


async def test_requests_paging_filter_and_requested_by(client: OverseerrClient) -> None:
    ids = [(await client.create_request("movie", t, as_user=BOB)).id for t in (DUNE, OPPENHEIMER, 424, 335984)]
    await client.create_request("tv", SEVERANCE, as_user=CAROL)
    await client.approve(ids[0])
    first = await client.requests(1, take=3)
    assert (first.page, first.pages, first.total, [r.id for r in first.results]) == (1, 2, 5, [5, 4, 3])
    second = await client.requests(2, take=3)
    assert [r.id for r in second.results] == [2, 1]
    assert [r.id for r in (await client.requests(filter="processing")).results] == [ids[0]]
    assert (await client.requests(filter="pending", requested_by=CAROL)).total == 1
    assert (await client.requests(requested_by=BOB)).total == 4
    with pytest.raises(ValueError):
        await client.requests(filter="nope")


async def test_users_and_import_from_plex(client: OverseerrClient, sim: OverseerrHandle) -> None:
    users = await client.users()
    assert [(u.id, u.plex_id, u.display_name, u.is_admin) for u in users] == [
        (1, 1001, "alice", True), (2, 1002, "bob", False), (3, 1003, "carol", False)]
    assert next(u for u in users if u.id == CAROL).movie_quota_limit == 1
    bob = await client.user_by_plex_id(1002)
    assert bob is not None and bob.id == BOB
    assert await client.user_by_plex_id(1004) is None
    assert await client.import_from_plex([1002, 1003]) == ()
    sim.sim.remove_user(CAROL)
    assert await client.import_from_plex([1004]) == ()
    created = await client.import_from_plex([1003])
    assert [(u.id, u.plex_id, u.permissions) for u in created] == [(4, 1003, 32)]
    carol = await client.user_by_plex_id(1003)
    assert carol is not None and carol.id == 4


async def test_faults_map_to_unavailable(sim: OverseerrHandle) -> None:
    client = _client(sim, timeout=0.5)
    sim.sim.set_faults(status=503)
    with pytest.raises(IntegrationUnavailable) as exc:
        await client.search("heat")
    assert exc.value.status_code == 503
    sim.sim.set_faults(status=500)  # a 500 without Overseerr's not-found message stays "unavailable"
    with pytest.raises(IntegrationUnavailable):
        await client.movie(HEAT)
    sim.sim.set_faults(outage=True)
    with pytest.raises(IntegrationUnavailable):
        await client.users()
    sim.sim.clear_faults()
    assert (await client.movie(HEAT)).title == "Heat"


async def test_bad_api_key_is_rejected_not_unavailable(sim: OverseerrHandle) -> None:
    with pytest.raises(IntegrationRejected) as exc:
        await _client(sim, api_key="wrong").users()
    assert exc.value.status_code == 403
