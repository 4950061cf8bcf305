"""The admin's announcement on PostgreSQL: what may be posted, what shows now, its end on the
server's clock, replacing and removing, the audit rows and the live event that reaches the banners."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
import redis.asyncio as aioredis
from sqlmodel import select

from medianest import live
from medianest.config import get_settings
from medianest.errors import ValidationFailed
from medianest.models import Announcement, AuditLog, utcnow
from medianest.services import announcements
from tests.factories import as_member, make_user


async def _admin(db):
    user = make_user(db, username="alice", role="admin")
    await db.commit()
    return as_member(user)


async def _post(db, actor, message="Plex restarts at 22:00", level="info", ends_at="", now=None):
    return await announcements.post(db, actor=actor, message=message, level=level, ends_at=ends_at, now=now)


@pytest.mark.parametrize(("message", "level", "ends", "error"), [
    ("", "info", "", "Write the message"),
    ("   \n  ", "info", "", "Write the message"),
    ("x" * 281, "info", "", "under 280 characters"),
    ("bell \x07", "info", "", "cannot be shown"),
    ("fine", "danger", "", "Info or Warning"),
    ("fine", "info", "tomorrow", "not a valid date"),
    ("fine", "info", "2030-01-01T10:00:00", "not a valid date"),  # no offset: whose 10:00?
    ("fine", "info", "2020-01-01T10:00:00Z", "in the future"),
    ("fine", "info", "2099-01-01T10:00:00Z", "within a year"),
])
async def test_what_cannot_be_posted_changes_nothing(db, message, level, ends, error):
    alice = await _admin(db)
    with pytest.raises(ValidationFailed, match=error):
        await _post(db, alice, message=message, level=level, ends_at=ends)
    assert (await db.exec(select(Announcement))).all() == []
    assert await announcements.current(db) is None


async def test_a_posted_announcement_shows_until_its_end_on_the_servers_clock(db):
    alice = await _admin(db)
    now = utcnow()
    # The browser sends the admin's local pick as UTC; any offset is understood.
    ends = (now + timedelta(minutes=30)).astimezone(timezone(timedelta(hours=-5)))
    posted = await _post(db, alice, message="  Plex   restarts\nat 22:00 ", level="warning", ends_at=ends.isoformat(),
                         now=now)
    assert (posted.message, posted.level, posted.state, posted.posted_by) == (
        "Plex restarts at 22:00", "warning", "showing", "alice")
    assert datetime.fromisoformat(posted.ends_at) == ends and posted.ends_at.endswith("+00:00")
    shown = await announcements.current(db, now=now + timedelta(minutes=29))
    assert shown is not None and shown.id == posted.id
    assert await announcements.current(db, now=now + timedelta(minutes=30)) is None
    ending = await announcements.next_ending(db)
    assert ending is not None and ending.id == posted.id and ending.ends_at == ends.astimezone(UTC)
    (ended,) = await announcements.recent(db, now=now + timedelta(hours=1))
    assert ended.state == "ended"


async def test_a_new_announcement_replaces_the_old_and_remove_takes_it_down(db):
    alice = await _admin(db)
    first = await _post(db, alice, message="first")
    second = await _post(db, alice, message="second", level="warning")
    assert (await announcements.current(db)).id == second.id
    assert [(a.message, a.state) for a in await announcements.recent(db)] == [("second", "showing"),
                                                                            ("first", "removed")]
    assert await announcements.next_ending(db) is None  # the one showing has no end
    assert await announcements.remove(db, actor=alice) == 1
    assert await announcements.current(db) is None
    with pytest.raises(ValidationFailed, match="No announcement is showing"):
        await announcements.remove(db, actor=alice)
    audit = (await db.exec(select(AuditLog.action, AuditLog.target).order_by(AuditLog.id))).all()
    assert audit == [("announcement.post", f"announcement:{first.id}"),
                     ("announcement.post", f"announcement:{second.id}"),
                     ("announcement.remove", f"announcement:{second.id}")]
    (replacing,) = (await db.exec(select(AuditLog.details).where(AuditLog.target == f"announcement:{second.id}",
                                                                 AuditLog.action == "announcement.post"))).all()
    assert replacing["replaced"] == [first.id] and replacing["level"] == "warning"


async def test_posting_and_removing_tell_every_web_process(db):
    alice = await _admin(db)
    client = aioredis.from_url(get_settings().redis_url)
    try:
        last = (await client.xrevrange(live.stream_key(), count=1) or [(b"0-0", {})])[0][0]
        await _post(db, alice)
        await announcements.remove(db, actor=alice)
        events = await client.xrange(live.stream_key(), min=f"({last.decode()}")
    finally:
        await client.aclose()
    kinds = [json.loads(fields[b"data"])["type"] for _, fields in events]
    assert kinds.count("announcement") == 2
