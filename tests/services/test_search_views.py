"""The search page's rules, without a browser: the action each card offers, the season picker,
and how a card changes after a request or a follow."""

from __future__ import annotations

import pybreaker
import pytest

from medianest.errors import IntegrationRejected
from medianest.integrations.overseerr import OverseerrClient, SearchResult
from medianest.services import search, search_views
from medianest.services.auth import CurrentUser
from medianest.services.search_views import SeasonView
from medianest.simulators import fixtures
from tests.factories import as_member, make_request, make_user

BREAKING_BAD, SEVERANCE = 1396, 95396


def _result(media_type: str = "movie", status: str = "unknown", **kw) -> SearchResult:
    values = dict(tmdb_id=438631 if media_type == "movie" else SEVERANCE, media_type=media_type, title="Dune",
                  year=2021, overview="A noble family's heir.", poster_path="/dune.jpg", status=status,
                  media_id=None)
    return SearchResult(**{**values, **kw})


@pytest.mark.parametrize(("media_type", "status", "mine", "following", "action", "can_follow", "label"), [
    ("movie", "unknown", "", False, "request", False, "Not requested"),
    ("movie", "pending", "", False, "follow", False, "Requested"),
    ("movie", "pending", "", True, "none", False, "Requested · following"),
    ("movie", "pending", "pending", False, "none", False, "You requested this"),
    ("movie", "available", "", False, "none", False, "Available"),
    ("tv", "unknown", "", False, "seasons", False, "Not requested"),
    ("tv", "partially_available", "", False, "seasons", False, "Partly available"),
    ("tv", "pending", "", False, "seasons", True, "Requested"),
    ("tv", "pending", "", True, "seasons", False, "Requested · following"),
    ("tv", "pending", "pending", False, "seasons", False, "You requested this"),
    ("tv", "available", "", False, "none", False, "Available"),
])
def test_each_card_offers_what_the_member_may_do(media_type, status, mine, following, action, can_follow,
                                                 label):
    card = search_views.result_view(_result(media_type, status), mine=mine, following=following)
    assert (card.action, card.can_follow, card.badge_label) == (action, can_follow, label)
    assert card.key == f"{media_type}-{card.tmdb_id}" and card.poster == "/media/tmdb/w300/dune.jpg"


def test_overview_is_shortened_at_a_word_and_posters_go_through_the_proxy():
    card = search_views.result_view(_result(overview="word " * 100, poster_path="../etc/passwd"))
    assert len(card.overview) <= search_views.OVERVIEW_CHARS + 1 and card.overview.endswith("word…")
    assert card.poster == ""  # not an image path: no URL at all


def test_card_after_request_follow_or_learning_it_is_available():
    movie = search_views.result_view(_result())
    assert search_views.after_request(movie, "pending").action == "none"
    duplicate = search_views.after_request(movie, "duplicate")
    assert (duplicate.badge_label, duplicate.action) == ("Requested", "follow")
    assert search_views.after_request(movie, "refused") == movie
    followed = search_views.after_follow(duplicate)
    assert (followed.action, followed.can_follow, followed.badge_label) == ("none", False, "Requested · following")
    show = search_views.result_view(_result("tv"))
    assert search_views.after_request(show, "pending").action == "seasons"  # more seasons can still be asked for
    gone = search_views.now_available(movie, "https://app.plex.tv/x")
    assert (gone.badge, gone.action, gone.plex_url) == ("available", "none", "https://app.plex.tv/x")
    cards = [movie, show]
    assert search_views.replace(cards, gone) == [gone, show]
    assert search_views.find(cards, show.key) is show and search_views.find(cards, "movie-1") is None
    assert search_views.draft(show, (1, 2)).seasons == (1, 2) and search_views.draft(movie).year == 2021


def test_learned_status_is_newer_than_the_snapshot():
    outcome = search.SearchOutcome("dune", 1, 1, 1, (_result(),), fetched_at=100.0)
    seen = search_views.snapshot(outcome)
    assert [s.key for s in seen] == ["movie-438631"]
    assert search_views.snapshot(outcome, skip=["movie-438631"]) == []
    (after,) = search_views.learned(seen, "movie-438631", "available", "https://app.plex.tv/y")
    assert after.result.status == "available" and after.result.plex_url == "https://app.plex.tv/y"
    assert after.fetched_at > 100.0


async def test_views_lay_the_members_own_request_over_the_snapshot(db):
    bob = make_user(db, username="bob", plex_id=1002, role="user")
    await db.commit()
    make_request(db, bob, title="Dune", media_type="movie", tmdb_id=438631, status="pending")
    await db.commit()
    outcome = search.SearchOutcome("dune", 1, 1, 1, (_result(),), fetched_at=0.0)
    (card,) = await search_views.views(db, bob.id, search_views.snapshot(outcome))
    assert (card.badge_label, card.action) == ("You requested this", "none")
    (other,) = await search_views.views(db, bob.id + 1000, search_views.snapshot(outcome))
    assert (other.badge_label, other.action) == ("Requested", "follow")


def test_only_selectable_seasons_can_be_chosen():
    picker = [SeasonView(1, "Season 1", "Available", False), SeasonView(2, "Season 2", "", True),
              SeasonView(3, "Season 3", "Partly available", True)]
    assert search_views.toggle(picker, [2], 1) == [2]  # an available season is not toggled on
    assert search_views.toggle(picker, [2], 3) == [2, 3]
    assert search_views.toggle(picker, [2, 3], 2) == [3]
    assert search_views.chosen_seasons(picker, [1, 2, 9]) == (2,)  # whatever else a browser sends is dropped


@pytest.fixture
def overseerr(overseerr_server):
    overseerr_server.sim.reset()
    yield OverseerrClient(overseerr_server.url, api_key=fixtures.OVERSEERR_API_KEY, timeout=1.0,
                          breaker=pybreaker.CircuitBreaker(fail_max=1000, exclude=[IntegrationRejected]))
    overseerr_server.sim.clear_faults()


async def test_season_picker_from_overseerr(overseerr, overseerr_server):
    seasons = await search_views.seasons(overseerr, BREAKING_BAD)
    assert [(s.number, s.state, s.selectable) for s in seasons] == [
        (1, "Available", False), (2, "Available", False), (3, "", True), (4, "", True), (5, "", True)]
    await overseerr.create_request("tv", BREAKING_BAD, [3], as_user=2)  # bob in the simulator
    requested = {s.number: s for s in await search_views.seasons(overseerr, BREAKING_BAD)}
    assert (requested[3].state, requested[3].selectable) == ("Requested", False)
    with pytest.raises(search_views.SeasonsUnavailable) as gone:
        await search_views.seasons(overseerr, 1)
    assert gone.value.user_message == "Overseerr does not know this show any more."
    overseerr_server.sim.set_faults(status=503)
    with pytest.raises(search_views.SeasonsUnavailable) as down:
        await search_views.seasons(overseerr, BREAKING_BAD)
    assert "not answering" in down.value.user_message


async def test_a_member_without_an_overseerr_user_is_told_up_front(db, overseerr, overseerr_server):
    async def member(name: str, plex_id: int | None, is_local: bool = False) -> CurrentUser:
        user = make_user(db, username=name, plex_id=plex_id, is_local=is_local)
        await db.commit()
        return as_member(user)

    bob, stranger, local = await member("bob", 1002), await member("dave", 9999), await member("root", None, True)
    assert not await search_views.cannot_request(db, bob, overseerr)
    assert await search_views.cannot_request(db, stranger, overseerr)
    assert not await search_views.cannot_request(db, local, overseerr)
    assert not await search_views.cannot_request(db, stranger, None)  # no Overseerr: the page says that instead
    newcomer = await member("erin", 9998)
    overseerr_server.sim.set_faults(status=503)
    assert not await search_views.cannot_request(db, newcomer, overseerr)  # the search says Overseerr is down
