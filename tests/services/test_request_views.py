"""The request lists as pages show them, without a browser: typed rows, pagination, follows,
the admin's member filter; and the admin's user table and the status board cards."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from medianest.errors import Forbidden
from medianest.services import member_views, request_views, status_board
from medianest.services.auth import CurrentUser
from medianest.services.media_requests import PAGE_SIZE
from medianest.services.service_status import ServiceCard
from tests.factories import as_member, make_follow, make_request, make_user


async def _user(db, name: str, role: str = "user", **kw) -> CurrentUser:
    user = make_user(db, username=name, role=role, **kw)
    await db.commit()
    return as_member(user)


async def test_pages_of_my_requests_clamped_to_the_last(db):
    bob = await _user(db, "bob")
    carol = await _user(db, "carol")
    for i in range(PAGE_SIZE + 3):
        make_request(db, bob, title=f"Film {i}", media_type="movie", tmdb_id=1000 + i, status="pending",
                     poster_path="/p.jpg", year=2000 + i)
    make_request(db, carol, title="Carol's", media_type="tv", tmdb_id=5, seasons=[1, 2], status="declined",
                 decline_reason="Not in this house")
    await db.commit()
    first = await request_views.request_page(db, viewer=bob, mine=True)
    assert (first.total, first.page, first.pages, len(first.rows)) == (PAGE_SIZE + 3, 1, 2, PAGE_SIZE)
    newest = first.rows[0]
    assert (newest.title, newest.year, newest.what, newest.label, newest.poster) == (
        f"Film {PAGE_SIZE + 2}", str(2000 + PAGE_SIZE + 2), "Movie", "Pending approval", "/media/tmdb/w185/p.jpg")
    assert newest.requested.endswith(" UTC") and newest.requested_iso.startswith(newest.requested[:10])
    past_the_end = await request_views.request_page(db, viewer=bob, mine=True, page=9)
    assert (past_the_end.page, len(past_the_end.rows)) == (2, 3)
    empty = await request_views.request_page(db, viewer=bob, mine=True, status="declined")
    assert (empty.total, empty.page, empty.pages, empty.rows) == (0, 1, 1, [])
    with pytest.raises(Forbidden):
        await request_views.request_page(db, viewer=bob, mine=False)


async def test_admin_list_filters_by_member_and_shows_the_reason(db):
    admin = await _user(db, "alice", role="admin")
    carol = await _user(db, "carol")
    make_request(db, carol, title="Carol's", media_type="tv", tmdb_id=5, seasons=[1, 2], status="declined",
                 decline_reason="Not in this house")
    make_request(db, admin, title="Alice's", media_type="movie", tmdb_id=6, status="pending")
    await db.commit()
    page = await request_views.request_page(db, viewer=admin, mine=False, status="all", member_id=carol.id)
    (row,) = page.rows
    assert (row.username, row.what, row.message, row.can_decide) == (
        "carol", "Show · seasons 1, 2", "Not in this house", False)
    assert [(m.id, m.name) for m in await request_views.members(db)] == [(str(admin.id), "alice"),
                                                                         (str(carol.id), "carol")]


async def test_follows_are_typed_newest_first(db):
    bob = await _user(db, "bob")
    make_follow(db, bob, media_type="movie", tmdb_id=1, title="Old", status="pending")
    make_follow(db, bob, media_type="movie", tmdb_id=2, title="New", status="available", plex_url="https://app.plex.tv/z")
    await db.commit()
    follows = await request_views.followed(db, bob.id)
    assert [(f.title, f.label, f.plex_url) for f in follows] == [
        ("New", "Available", "https://app.plex.tv/z"), ("Old", "Pending approval", "")]


async def test_admin_user_table_rows(db):
    admin = await _user(db, "alice", role="admin", plex_id=1001)
    await _user(db, "root", role="admin", is_local=True)
    rows = await member_views.member_rows(db, actor=admin, overseerr=None)
    assert [(r.username, r.kind, r.overseerr, r.last_login, r.initials) for r in rows] == [
        ("alice", "Plex", "n/a", "never", "AL"), ("root", "Local", "n/a", "never", "RO")]
    member = await _user(db, "bob")
    with pytest.raises(Forbidden):
        await member_views.member_rows(db, actor=member, overseerr=None)


def test_status_cards_are_formatted_once_and_survive_the_event_stream():
    at = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    cards = [ServiceCard(key="plex", name="Plex", status="down", stale=False, response_time_ms=None,
                         uptime_24h=0.5, uptime_30d=None, last_check_at=at, status_since=at, url=None,
                         message="refused", source="check", history_ms=[12, 30]),
             ServiceCard(key="kuma:1", name="Web", status="down", stale=True, response_time_ms=40, uptime_24h=None,
                         uptime_30d=1.0, last_check_at=None, status_since=None, url="https://x", message=None,
                         source="kuma")]
    views = [status_board.card_view(c) for c in cards]
    assert (views[0].label, views[0].response, views[0].uptime_24h, views[0].uptime_30d) == ("Down", "–", "50.00%", "–")
    assert views[0].history == ({"i": 0, "ms": 12}, {"i": 1, "ms": 30})
    assert (views[1].label, views[1].response, views[1].checked_at) == ("Stale", "40 ms", "")
    assert [status_board.from_json(status_board.to_json(v)) for v in views] == views
    assert status_board.outages(views) == [views[0]]  # a stale "down" is not known to be down
