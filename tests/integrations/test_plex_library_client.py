"""``PlexServerClient``'s library methods against the PMS simulator over real HTTP
(integrations.md §2): sections, paging, recently added, search, image transcoding and the
guard that keeps the image proxy inside ``/library/``."""

from __future__ import annotations

import struct

import pybreaker
import pytest

from medianest.errors import IntegrationRejected
from medianest.integrations.plex import LibraryItem, LibraryPage, LibrarySection, PlexServerClient, watch_url
from medianest.simulators import fixtures
from medianest.simulators.plex import Section, SimulatorHandle

ALICE_TOKEN = "sim-alice-token"
BOB_SERVER_TOKEN = "sim-bob-household-token"


def _client(plex: SimulatorHandle, token: str | None = ALICE_TOKEN) -> PlexServerClient:
    # A private breaker, so failures provoked here never open the shared "Plex" one.
    return PlexServerClient(plex.pms_url, token=token, client_id="medianest-test",
                            breaker=pybreaker.CircuitBreaker(fail_max=100, exclude=[IntegrationRejected]))


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_sections_are_movie_and_show_sections_without_agentless_ones(plex: SimulatorHandle) -> None:
    client = _client(plex)
    assert await client.sections() == (
        LibrarySection("1", "Movies", "movie", "tv.plex.agents.movie", "Plex Movie", (fixtures.DEFAULT_MOVIES_PATH,)),
        LibrarySection("2", "TV Shows", "show", "tv.plex.agents.series", "Plex TV Series", (fixtures.DEFAULT_TV_PATH,)),
        # The "Other Videos" library downloads land in: the Personal Media agent, not the legacy agent-less one.
        LibrarySection("3", "YouTube", "movie", "tv.plex.agents.none", "Plex Video Files Scanner", ("/data/youtube",)))
    # A music section and a legacy agent-less section are not for MediaNest (Overseerr skips the latter too).
    plex.sim.sections[4] = Section(4, "artist", "Music", "tv.plex.agents.music", "Plex Music", "music-uuid",
                                   ["/data/music"], 0, 0, 0)
    plex.sim.sections[2].agent = "com.plexapp.agents.none"
    assert [s.key for s in await client.sections()] == ["1", "3"]


async def test_section_items_pages_in_title_order(plex: SimulatorHandle) -> None:
    client = _client(plex)
    first = await client.section_items("1", start=0, size=5)
    assert isinstance(first, LibraryPage) and (first.total, first.offset) == (12, 0)
    # titleSort ignores leading articles, like Plex.
    assert [i.title for i in first.items] == ["Alien", "Arrival", "Blade Runner", "The Godfather", "Heat"]
    second = await client.section_items("1", start=5, size=5)
    last = await client.section_items("1", start=10, size=5)
    assert (second.offset, len(second.items), last.offset, len(last.items)) == (5, 5, 10, 2)
    everything = await client.section_items("1", size=200)
    paged = [i.rating_key for page in (first, second, last) for i in page.items]
    assert paged == [i.rating_key for i in everything.items] and len(set(paged)) == 12
    heat = next(i for i in first.items if i.title == "Heat")
    assert heat == LibraryItem(rating_key=str(fixtures.MOVIE_RATING_KEY_START), type="movie", title="Heat", year=1995,
                               summary=fixtures.MOVIES[0].summary, thumb=heat.thumb, added_at=fixtures.FIXTURE_EPOCH,
                               section_key="1", subtitle="",
                               files=(f"{fixtures.DEFAULT_MOVIES_PATH}/Heat (1995)/Heat (1995).mkv",))
    assert heat.thumb and heat.thumb.startswith(f"/library/metadata/{fixtures.MOVIE_RATING_KEY_START}/thumb/")
    newest = await client.section_items("1", size=1, sort="addedAt:desc")
    assert [i.title for i in newest.items] == ["Mad Max: Fury Road"] and newest.total == 12


async def test_show_section_items_carry_season_counts(plex: SimulatorHandle) -> None:
    page = await _client(plex).section_items("2", size=10)
    assert {i.title: (i.type, i.subtitle, i.section_key) for i in page.items} == {
        "Breaking Bad": ("show", "2 seasons", "2"), "Dark": ("show", "2 seasons", "2"),
        "Sherlock": ("show", "1 season", "2"), "The Office": ("show", "1 season", "2")}


async def test_section_items_refuses_malformed_arguments(plex: SimulatorHandle) -> None:
    client = _client(plex)
    for kwargs in ({"section_key": "1/../2"}, {"section_key": "1", "size": 0}, {"section_key": "1", "start": -1},
                   {"section_key": "1", "sort": "titleSort&X-Plex-Token=x"}):
        with pytest.raises(ValueError):
            await client.section_items(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(IntegrationRejected) as info:
        await client.section_items("9")
    assert info.value.status_code == 404


async def test_recently_added_puts_a_new_movie_first(plex: SimulatorHandle) -> None:
    client = _client(plex)
    before = await client.recently_added(size=3)
    assert len(before) == 3 and before[0].title == "Mad Max: Fury Road"
    dune = plex.sim.add_movie("Dune", 2021, guids=["tmdb://438631"], summary="Spice.")
    after = await client.recently_added(size=3)
    assert [i.rating_key for i in after] == [str(dune.rating_key), before[0].rating_key, before[1].rating_key]
    assert (after[0].title, after[0].year, after[0].summary, after[0].section_key) == ("Dune", 2021, "Spice.", "1")


async def test_search_groups_movies_shows_and_episodes(plex: SimulatorHandle) -> None:
    client = _client(plex, token=BOB_SERVER_TOKEN)  # a member's server token works as well
    assert [(i.type, i.title) for i in await client.search("heat")] == [("movie", "Heat")]
    pilots = await client.search("pilot")
    assert {(i.type, i.title, i.subtitle) for i in pilots} == {
        ("episode", "Pilot", "Breaking Bad · S01E01"), ("episode", "Pilot", "The Office · S01E01")}
    breaking_bad = next(i for i in pilots if i.subtitle.startswith("Breaking Bad"))
    # Episodes carry their show's poster, so they fit a poster grid.
    assert breaking_bad.thumb and breaking_bad.thumb.startswith(f"/library/metadata/{fixtures.SHOW_RATING_KEY_START}/")
    mixed = await client.search("the", limit=2)
    types = [i.type for i in mixed]
    assert types == sorted(types, key=["movie", "show", "episode"].index)  # hub order
    assert types.count("movie") == 2 and types.count("show") == 1
    assert await client.search("no such title anywhere") == ()
    assert await client.search("   ") == ()


async def test_search_404_means_no_results(plex: SimulatorHandle) -> None:
    plex.sim.set_faults("pms", status=404, path_prefix="/hubs/search")
    assert await _client(plex).search("heat") == ()


async def test_bad_token_is_rejected_with_401(plex: SimulatorHandle) -> None:
    client = _client(plex, token="not-a-token")
    for call in (client.sections(), client.section_items("1"), client.recently_added(), client.search("heat")):
        with pytest.raises(IntegrationRejected) as info:
            await call
        assert info.value.status_code == 401


async def test_image_is_a_resized_png(plex: SimulatorHandle) -> None:
    client = _client(plex)
    thumb = (await client.section_items("1", size=1)).items[0].thumb
    assert thumb is not None
    data, content_type = await client.image(thumb, width=120, height=180)
    assert content_type == "image/png" and _png_size(data) == (120, 180)
    again, _ = await client.image(thumb, width=120, height=180)
    assert again == data  # deterministic placeholder
    with pytest.raises(IntegrationRejected) as info:
        await client.image("/library/metadata/99999/thumb/1", width=10, height=10)
    assert info.value.status_code == 404


async def test_image_refuses_anything_outside_library(plex: SimulatorHandle) -> None:
    client = _client(plex)
    for path in ("/identity", "/:/resources/movie.png", "library/metadata/101/thumb/1", "http://evil.example/x.png",
                 "/library/../identity", "/library/metadata/101/thumb/1?X-Plex-Token=x", "//evil/library/x",
                 "/library//metadata", "/photo/:/transcode?url=/identity"):
        with pytest.raises(ValueError):
            await client.image(path, width=100, height=150)
    with pytest.raises(ValueError):
        await client.image("/library/metadata/101/thumb/1", width=0, height=150)
    with pytest.raises(ValueError):
        await client.image("/library/metadata/101/thumb/1", width=100, height=5000)


def test_watch_url_is_the_app_plex_tv_details_link() -> None:
    assert watch_url(fixtures.HOUSEHOLD_MACHINE_ID, "1042") == (
        f"https://app.plex.tv/desktop#!/server/{fixtures.HOUSEHOLD_MACHINE_ID}"
        "/details?key=%2Flibrary%2Fmetadata%2F1042")
