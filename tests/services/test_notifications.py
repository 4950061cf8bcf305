"""Member notifications on PostgreSQL: adding in the caller's transaction, the newest unread and
their count, dismissing one or all (only ever the member's own), the admins, and the live event
that tells open tabs to reload."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from medianest import live
from medianest.config import get_settings
from medianest.db import session_scope
from medianest.models import Notification, Role, UserStatus, utcnow
from medianest.services import notifications
from tests.factories import make_notification, make_user


async def _members(db, *names: str) -> list[int]:
    users = [make_user(db, username=name) for name in names]
    await db.commit()
    return [u.id for u in users]


async def test_added_notifications_show_newest_first_with_their_count(db):
    (bob,) = await _members(db, "bob")
    for i in range(7):
        await notifications.add(db, bob, kind="available", title=f"Film {i} is available")
    await db.commit()
    shown, count = await notifications.unread(db, bob)
    assert count == 7
    assert [n.title for n in shown] == [f"Film {i} is available" for i in (6, 5, 4, 3, 2)]  # MAX_SHOWN
    two, count = await notifications.unread(db, bob, limit=2)
    assert [n.title for n in two] == ["Film 6 is available", "Film 5 is available"] and count == 7


async def test_a_notification_reads_back_as_a_view(db):
    (bob,) = await _members(db, "bob")
    before = datetime.now(UTC)
    await notifications.add(db, bob, kind="available", title="Dune is available", body="Enjoy.",
                            link="https://app.plex.tv/desktop#!/server/x", link_label="Watch in Plex")
    await notifications.add(db, bob, kind="declined", title="Heat was declined")
    await db.commit()
    declined, available = (await notifications.unread(db, bob))[0]
    assert (available.kind, available.title, available.body, available.link, available.link_label) == (
        "available", "Dune is available", "Enjoy.", "https://app.plex.tv/desktop#!/server/x", "Watch in Plex")
    # No link: empty strings, which the cards can render as they are.
    assert (declined.kind, declined.body, declined.link, declined.link_label) == ("declined", "", "", "")
    assert available.created_at.tzinfo is not None
    assert before - timedelta(seconds=5) <= available.created_at <= datetime.now(UTC) + timedelta(seconds=5)


async def test_long_titles_and_bodies_are_cut_to_what_the_columns_hold(db):
    (bob,) = await _members(db, "bob")
    notice = await notifications.add(db, bob, kind="failed", title="T" * 300, body="B" * 2000)
    await db.commit()  # PostgreSQL refuses a value longer than its column: the cut makes this pass
    stored = await db.get(Notification, notice.id)
    assert (len(stored.title), len(stored.body)) == (255, 1024)


async def test_add_belongs_to_the_callers_transaction(db):
    (bob,) = await _members(db, "bob")
    await notifications.add(db, bob, kind="available", title="Rolled back")
    await db.rollback()
    assert await notifications.unread(db, bob) == ([], 0)
    async with session_scope() as session:
        await notifications.add(session, bob, kind="available", title="Committed")
    shown, count = await notifications.unread(db, bob)
    assert [n.title for n in shown] == ["Committed"] and count == 1


async def test_each_member_sees_only_their_own(db):
    bob, carol = await _members(db, "bob", "carol")
    await notifications.add(db, bob, kind="available", title="For bob")
    await notifications.add(db, carol, kind="available", title="For carol")
    await notifications.add(db, carol, kind="declined", title="Also for carol")
    await db.commit()
    bobs, bob_count = await notifications.unread(db, bob)
    carols, carol_count = await notifications.unread(db, carol)
    assert ([n.title for n in bobs], bob_count) == (["For bob"], 1)
    assert ([n.title for n in carols], carol_count) == (["Also for carol", "For carol"], 2)
    assert await notifications.unread(db, carol + bob + 1000) == ([], 0)  # nobody


async def test_dismissing_one_marks_only_that_one_read(db):
    (bob,) = await _members(db, "bob")
    first = await notifications.add(db, bob, kind="available", title="First")
    await notifications.add(db, bob, kind="available", title="Second")
    await db.commit()
    assert await notifications.dismiss(db, bob, first.id) == 1
    await db.commit()
    shown, count = await notifications.unread(db, bob)
    assert [n.title for n in shown] == ["Second"] and count == 1
    await db.refresh(first)
    assert first.read_at is not None
    assert await notifications.dismiss(db, bob, first.id) == 0  # already read: nothing changes


async def test_dismissing_an_unknown_or_someone_elses_notification_changes_nothing(db):
    bob, carol = await _members(db, "bob", "carol")
    carols = await notifications.add(db, carol, kind="available", title="For carol")
    await notifications.add(db, bob, kind="available", title="For bob")
    await db.commit()
    assert await notifications.dismiss(db, bob, carols.id) == 0
    assert await notifications.dismiss(db, bob, carols.id + 1000) == 0
    await db.commit()
    assert (await notifications.unread(db, carol))[1] == 1
    assert (await notifications.unread(db, bob))[1] == 1


async def test_dismissing_all_reads_every_unread_one_of_that_member_only(db):
    bob, carol = await _members(db, "bob", "carol")
    make_notification(db, bob, title="Read long ago", read_at=utcnow() - timedelta(days=2))
    for i in range(3):
        await notifications.add(db, bob, kind="available", title=f"Bob {i}")
    await notifications.add(db, carol, kind="available", title="Carol's")
    await db.commit()
    assert await notifications.dismiss(db, bob) == 3  # the one already read is not counted again
    await db.commit()
    assert await notifications.unread(db, bob) == ([], 0)
    assert (await notifications.unread(db, carol))[1] == 1
    assert await notifications.dismiss(db, bob) == 0


async def test_a_read_notification_is_not_shown_again(db):
    (bob,) = await _members(db, "bob")
    make_notification(db, bob, title="Seen", read_at=utcnow())
    make_notification(db, bob, title="New")
    await db.commit()
    shown, count = await notifications.unread(db, bob)
    assert [n.title for n in shown] == ["New"] and count == 1


async def test_admin_ids_are_the_admins(db):
    alice = make_user(db, username="alice", role=Role.ADMIN)
    root = make_user(db, username="root", role=Role.ADMIN, is_local=True)
    make_user(db, username="bob")
    make_user(db, username="carol", status=UserStatus.SUSPENDED)
    await db.commit()
    assert sorted(await notifications.admin_ids(db)) == sorted([alice.id, root.id])


async def test_admin_ids_without_admins_is_empty(db):
    await _members(db, "bob")
    assert await notifications.admin_ids(db) == []


@pytest.mark.parametrize(("link", "external"), [
    ("https://app.plex.tv/desktop#!/server/x", True),
    ("http://plex.local:32400/web", True),
    ("/requests", False),
    ("", False),
])
def test_a_card_opens_plex_links_in_a_new_tab(link, external):
    view = notifications.NoticeView(7, "available", "Dune is available", "Enjoy.", link, "Watch", datetime.now(UTC))
    card = notifications.card(view)
    assert card == notifications.NoticeCard(7, "available", "Dune is available", "Enjoy.", link, "Watch", external)


async def _events_after(last_id: str) -> list[dict]:
    client = aioredis.from_url(get_settings().redis_url)
    try:
        entries = await client.xrange(live.stream_key(), min=f"({last_id}")
    finally:
        await client.aclose()
    return [json.loads(fields[b"data"]) for _, fields in entries]


async def _last_event_id() -> str:
    client = aioredis.from_url(get_settings().redis_url)
    try:
        last = await client.xrevrange(live.stream_key(), count=1)
    finally:
        await client.aclose()
    return last[0][0].decode() if last else "0-0"


async def test_announce_sends_one_event_naming_each_member_once(database_url):
    start = await _last_event_id()
    await notifications.announce([3, 1, 3, 2], reason="sync")
    await notifications.announce(i for i in [5])  # any iterable of ids; no reason given
    assert await _events_after(start) == [{"type": "user", "user_ids": [1, 2, 3], "reason": "sync"},
                                          {"type": "user", "user_ids": [5], "reason": ""}]


async def test_announce_to_nobody_sends_nothing(database_url):
    start = await _last_event_id()
    await notifications.announce([])
    await notifications.announce(set())
    assert await _events_after(start) == []
