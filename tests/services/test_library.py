"""The library page's service against the PMS simulator over real HTTP: the shelves, recently
added, a section a page at a time, search, the views (posters through MediaNest, links into
Plex) and the household server's machine id."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pybreaker
import pytest

from medianest.errors import IntegrationRejected, IntegrationUnavailable, ValidationFailed
from medianest.integrations.plex import LibraryItem, PlexServerClient, watch_url
from medianest.services import library, system
from medianest.simulators import fixtures
from medianest.simulators.plex import SimulatorHandle

ALICE_TOKEN = "sim-alice-token"
MACHINE = fixtures.HOUSEHOLD_MACHINE_ID
MOVIES_IN_FIXTURES = 12


def _client(plex: SimulatorHandle) -> PlexServerClient:
    # A private breaker, so failures provoked here never open the shared "Plex" one.
    return PlexServerClient(plex.pms_url, token=ALICE_TOKEN, client_id="medianest-test",
                            breaker=pybreaker.CircuitBreaker(fail_max=100, exclude=[IntegrationRejected]))


def _poster_query(poster: str) -> dict[str, list[str]]:
    parts = urlsplit(poster)
    assert (parts.scheme, parts.netloc, parts.path) == ("", "", "/media/plex")
    return parse_qs(parts.query)


async def test_shelves_are_recently_added_then_each_section(plex):
    client = _client(plex)
    assert [(s.key, s.title, s.type) for s in await library.sections(client)] == [
        ("1", "Movies", "movie"), ("2", "TV Shows", "show"), ("3", "YouTube", "movie")]
    assert await library.shelves(client) == [library.SectionView(library.RECENT, "Recently added"),
                                             library.SectionView(library.COLLECTIONS, "Collections"),
                                             library.SectionView("1", "Movies"), library.SectionView("2", "TV Shows"),
                                             library.SectionView("3", "YouTube")]
    plex.sim.sections[2].agent = "com.plexapp.agents.none"  # a section Plex cannot match is not offered
    assert [s.key for s in await library.shelves(client)] == [library.RECENT, library.COLLECTIONS, "1", "3"]


async def test_recently_added_is_one_page_newest_first(plex):
    client = _client(plex)
    before = await library.shelf(client, MACHINE, library.RECENT)
    assert before.offset == 0 and before.total == len(before.items) <= library.PAGE_SIZE
    added = [plex.sim.add_movie(f"New Film {i}", 2020 + i) for i in range(library.PAGE_SIZE)]
    after = await library.shelf(client, MACHINE, library.RECENT, start=5)  # start means nothing here
    assert (after.total, after.offset, len(after.items)) == (library.PAGE_SIZE, 0, library.PAGE_SIZE)
    assert [i.title for i in after.items] == [m.title for m in reversed(added)]
    newest = after.items[0]
    assert (newest.key, newest.year, newest.type, newest.subtitle) == (
        str(added[-1].rating_key), str(2020 + library.PAGE_SIZE - 1), "movie", "")


async def test_a_section_comes_a_page_at_a_time_in_title_order(plex):
    client = _client(plex)
    extra = library.PAGE_SIZE + 5 - MOVIES_IN_FIXTURES
    for i in range(extra):
        plex.sim.add_movie(f"Zz Film {i:02d}", 2001)
    total = MOVIES_IN_FIXTURES + extra
    first = await library.shelf(client, MACHINE, "1")
    second = await library.shelf(client, MACHINE, "1", start=library.PAGE_SIZE)
    assert (first.total, first.offset, len(first.items)) == (total, 0, library.PAGE_SIZE)
    assert (second.total, second.offset, len(second.items)) == (total, library.PAGE_SIZE, 5)
    keys = [i.key for i in first.items + second.items]
    assert len(set(keys)) == total
    titles = [i.title for i in first.items + second.items]
    assert titles[:3] == ["Alien", "Arrival", "Blade Runner"] and titles[-1] == f"Zz Film {extra - 1:02d}"
    clamped = await library.shelf(client, MACHINE, "1", start=-10)
    assert clamped.offset == 0 and [i.key for i in clamped.items] == [i.key for i in first.items]


async def test_show_sections_carry_season_counts(plex):
    shows = await library.shelf(_client(plex), None, "2")
    assert {(i.title, i.type, i.subtitle) for i in shows.items} == {
        ("Breaking Bad", "show", "2 seasons"), ("Dark", "show", "2 seasons"),
        ("Sherlock", "show", "1 season"), ("The Office", "show", "1 season")}
    assert shows.total == 4


@pytest.mark.parametrize("section", ["", "abc", "1/../2", "-1", "1 ", "1&X-Plex-Token=x"])
async def test_a_section_that_is_not_a_number_is_refused_before_plex_is_asked(plex, section):
    plex.sim.set_faults("pms", status=500)  # were Plex asked, this would be IntegrationUnavailable
    with pytest.raises(ValidationFailed) as info:
        await library.shelf(_client(plex), MACHINE, section)
    assert info.value.user_message == "That library does not exist."


async def test_an_unknown_section_is_plexs_404(plex):
    with pytest.raises(IntegrationRejected) as info:
        await library.shelf(_client(plex), MACHINE, "9")
    assert info.value.status_code == 404


async def test_views_link_into_plex_only_with_a_machine_id(plex):
    client = _client(plex)
    linked = (await library.shelf(client, MACHINE, "1")).items
    unlinked = (await library.shelf(client, None, "1")).items
    assert [i.key for i in linked] == [i.key for i in unlinked]
    assert all(i.watch == watch_url(MACHINE, i.key) for i in linked)
    assert all(i.watch == "" for i in unlinked)


async def test_posters_go_through_medianest_without_the_token(plex):
    items = (await library.shelf(_client(plex), MACHINE, library.RECENT)).items
    assert items and all(i.poster for i in items)
    for item in items:
        query = _poster_query(item.poster)
        assert query["path"][0].startswith("/library/metadata/") and (query["w"], query["h"]) == (["300"], ["450"])
        assert ALICE_TOKEN not in item.poster and plex.pms_url not in item.poster
    # An episode shows its show's poster.
    episode = next(i for i in items if i.type == "episode" and i.subtitle.startswith("Breaking Bad"))
    assert _poster_query(episode.poster)["path"][0].startswith(
        f"/library/metadata/{fixtures.SHOW_RATING_KEY_START}/")


def test_thumb_url_quotes_the_plex_path_and_keeps_the_size():
    odd = "/library/metadata/7/thumb/1?a=1&w=9999#x"
    url = library.thumb_url(odd, width=120, height=180)
    assert _poster_query(url) == {"path": [odd], "w": ["120"], "h": ["180"]}
    assert library.thumb_url("/library/metadata/7/thumb/1") == (
        "/media/plex?path=%2Flibrary%2Fmetadata%2F7%2Fthumb%2F1&w=300&h=450")
    assert library.thumb_url(None) == library.thumb_url("") == ""


def test_item_view_of_an_item_without_year_or_poster():
    item = LibraryItem(rating_key="4242", type="movie", title="Untitled", year=None, summary="", thumb=None,
                       added_at=None, section_key="1", subtitle="")
    assert library.item_view(item, None) == library.ItemView(key="4242", title="Untitled", year="", subtitle="",
                                                             type="movie", poster="", watch="")
    assert library.item_view(item, MACHINE).watch == watch_url(MACHINE, "4242")


async def test_find_searches_plex_with_the_words_of_the_query(plex):
    client = _client(plex)
    assert [(i.type, i.title) for i in await library.find(client, MACHINE, "heat")] == [("movie", "Heat")]
    office = await library.find(client, MACHINE, "  the \t  office\n")  # spaces collapse to one
    assert [(i.type, i.title, i.subtitle) for i in office] == [("show", "The Office", "1 season")]
    assert office[0].watch == watch_url(MACHINE, office[0].key) and office[0].poster.startswith("/media/plex?")
    assert await library.find(client, MACHINE, "no such title anywhere") == []


async def test_find_with_nothing_to_search_for_does_not_ask_plex(plex):
    client = _client(plex)
    plex.sim.set_faults("pms", status=500)
    for query in ("", "   ", "\n\t", None, " " * 500):
        assert await library.find(client, MACHINE, query) == []
    with pytest.raises(IntegrationUnavailable):
        await library.find(client, MACHINE, "heat")  # the fault is there: a real query reaches Plex


async def test_find_takes_at_most_100_characters_after_collapsing_spaces(plex):
    client = _client(plex)
    assert await library.find(client, MACHINE, "x" * 100) == []
    assert [i.title for i in await library.find(client, MACHINE, "heat" + " " * 200)] == ["Heat"]
    with pytest.raises(ValidationFailed) as info:
        await library.find(client, MACHINE, "x" * 101)
    assert info.value.user_message == "Search for at most 100 characters."


async def test_household_machine_id_is_the_chosen_servers(db):
    assert await library.household_machine_id(db) is None
    await system.set_household_server(db, system.HouseholdServer(machine_id=MACHINE, name="Household",
                                                                 url="http://127.0.0.1:32400", owner_plex_id=1001))
    await db.commit()
    assert await library.household_machine_id(db) == MACHINE
    await system.put_value(db, system.HOUSEHOLD_SERVER_KEY, {"machine_id": "", "name": "Gone"})
    assert await library.household_machine_id(db) is None


async def test_collections_shelf_lists_every_collection_with_its_size(plex):
    client = _client(plex)
    assert (await library.shelf(client, "m1", library.COLLECTIONS)).items == []
    movies = [str(i.rating_key) for i in list(plex.sim.items.values()) if i.type == "movie"][:2]
    await client.create_collection("1", "Weekend picks", movies)
    shelf = await library.shelf(client, "m1", library.COLLECTIONS)
    assert [(v.title, v.subtitle, v.type) for v in shelf.items] == [("Weekend picks", "2 items · Movies", "collection")]
    assert shelf.items[0].watch.endswith(f"%2Flibrary%2Fmetadata%2F{shelf.items[0].key}")


def test_plex_failures_become_plain_sentences():
    from medianest.errors import IntegrationRejected, IntegrationUnavailable, ValidationFailed

    assert library.plain_error(IntegrationUnavailable("Plex", "timeout")).startswith("Plex is not answering")
    assert "choose the server again" in library.plain_error(IntegrationRejected("Plex", 401))
    assert library.plain_error(ValidationFailed("That library does not exist.")) == "That library does not exist."
