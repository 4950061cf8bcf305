"""The admin's announcement: a short message with a level (info / warning) and an optional end
time, shown as a banner on every signed-in page until it ends or is removed.

One announcement shows at a time: posting a new one removes the one before. The end time is
decided by the server's clock (the browser sends the end as an absolute UTC time, converted from
the admin's local time in the browser); the live bridge clears the banners when it passes.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from .. import live
from ..db import as_utc
from ..errors import ValidationFailed
from ..models import Announcement, User, id_of, utcnow
from . import audit
from .auth import CurrentUser

logger = logging.getLogger(__name__)

MAX_MESSAGE = 280
LEVELS = {"info": "Info", "warning": "Warning"}
#: The furthest end time an admin may choose.
MAX_DURATION = timedelta(days=366)
HISTORY = 10

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class AnnouncementView:
    """An announcement as the banner and the admin page show it (times are ISO 8601, UTC)."""

    id: int
    message: str
    level: str
    #: "" when it has no end.
    ends_at: str
    posted_at: str
    posted_by: str
    #: "showing", "ended" or "removed".
    state: str


@dataclass(frozen=True)
class Ending:
    """The newest announcement that has an end time (the live bridge's clock waits for it)."""

    id: int
    ends_at: datetime


def clean_message(text: str) -> str:
    """One line of plain text: whitespace (newlines included) collapsed, 1 to ``MAX_MESSAGE`` characters.

    Raises:
        ValidationFailed: empty, too long, or holding control characters.
    """
    message = _SPACES.sub(" ", text or "").strip()
    if not message:
        raise ValidationFailed("Write the message to announce.")
    if len(message) > MAX_MESSAGE:
        raise ValidationFailed(f"Keep the announcement under {MAX_MESSAGE} characters (it has {len(message)}).")
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in message):
        raise ValidationFailed("The message holds characters that cannot be shown.")
    return message


def parse_end(value: str, *, now: datetime) -> datetime | None:
    """The end time the page sent (ISO 8601 with an offset, e.g. ``2026-12-01T18:00:00.000Z``), or
    None for "until removed".

    Raises:
        ValidationFailed: not a time, without an offset, not in the future, or too far ahead.
    """
    value = (value or "").strip()
    if not value:
        return None
    try:
        ends = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed("The end time is not a valid date and time.") from exc
    if ends.tzinfo is None:
        raise ValidationFailed("The end time is not a valid date and time.")
    ends = ends.astimezone(UTC)
    if ends <= now:
        raise ValidationFailed("Choose an end time in the future, or none.")
    if ends - now > MAX_DURATION:
        raise ValidationFailed("Choose an end time within a year.")
    return ends


def _state(row: Announcement, now: datetime) -> str:
    if row.removed_at is not None:
        return "removed"
    if row.ends_at is not None and as_utc(row.ends_at) <= now:
        return "ended"
    return "showing"


def _iso(value: datetime | None) -> str:
    return as_utc(value).astimezone(UTC).isoformat() if value is not None else ""


def _view(row: Announcement, posted_by: str, now: datetime) -> AnnouncementView:
    return AnnouncementView(id=id_of(row), message=row.message, level=row.level, ends_at=_iso(row.ends_at),
                            posted_at=_iso(row.created_at), posted_by=posted_by, state=_state(row, now))


async def _showing(session: AsyncSession) -> list[Announcement]:
    return list((await session.exec(select(Announcement).where(col(Announcement.removed_at).is_(None))
                                    .order_by(col(Announcement.id).desc()))).all())


async def current(session: AsyncSession, *, now: datetime | None = None) -> AnnouncementView | None:
    """The announcement every signed-in page shows now, if any."""
    now = now or utcnow()
    found = (await session.exec(
        select(Announcement, User.username).join(User, col(User.id) == col(Announcement.created_by), isouter=True)
        .where(col(Announcement.removed_at).is_(None))
        .order_by(col(Announcement.id).desc()).limit(1))).first()
    if found is None:
        return None
    row, username = found
    view = _view(row, username or "", now)
    return view if view.state == "showing" else None


async def next_ending(session: AsyncSession) -> Ending | None:
    """The newest announcement not removed, if it has an end time (past or future)."""
    found = (await session.exec(select(Announcement).where(col(Announcement.removed_at).is_(None))
                                .order_by(col(Announcement.id).desc()).limit(1))).first()
    ends = as_utc(found.ends_at) if found is not None else None
    return Ending(id_of(found), ends) if found is not None and ends is not None else None


async def recent(session: AsyncSession, *, limit: int = HISTORY, now: datetime | None = None) -> list[AnnouncementView]:
    """The latest announcements, newest first, with whether each is showing, ended or removed."""
    now = now or utcnow()
    rows = (await session.exec(
        select(Announcement, User.username).join(User, col(User.id) == col(Announcement.created_by), isouter=True)
        .order_by(col(Announcement.id).desc()).limit(limit))).all()
    return [_view(row, username or "", now) for row, username in rows]


async def post(session: AsyncSession, *, actor: CurrentUser, message: str, level: str, ends_at: str,
               client_ip: str | None = None, now: datetime | None = None) -> AnnouncementView:
    """Show ``message`` to every member from now on (until ``ends_at``, an ISO time, or "" for
    until removed); the announcement showing so far is removed. Commits, then tells the web
    processes (a live event) to show it.

    Raises:
        ValidationFailed: a message, level or end time that cannot be used; nothing is changed.
    """
    now = now or utcnow()
    text = clean_message(message)
    if level not in LEVELS:
        raise ValidationFailed("Choose Info or Warning.")
    ends = parse_end(ends_at, now=now)
    replaced = await _showing(session)
    for old in replaced:
        old.removed_at, old.removed_by = now, actor.id
        session.add(old)
    row = Announcement(message=text, level=level, created_at=now, created_by=actor.id, ends_at=ends)
    session.add(row)
    await session.flush()
    await audit.record(session, "announcement.post", actor_user_id=actor.id, target=f"announcement:{row.id}",
                       client_ip=client_ip, level=level, ends_at=ends.isoformat() if ends else None,
                       replaced=[id_of(old) for old in replaced], length=len(text))
    await session.commit()
    await live.publish({"type": "announcement"})  # every web process writes it into the banners
    return _view(row, actor.username, now)


async def remove(session: AsyncSession, *, actor: CurrentUser, client_ip: str | None = None,
                 now: datetime | None = None) -> int:
    """Take the announcement down at once; returns how many were removed. Commits, then tells the
    web processes.

    Raises:
        ValidationFailed: nothing is showing.
    """
    now = now or utcnow()
    showing = [row for row in await _showing(session) if _state(row, now) == "showing"]
    if not showing:
        raise ValidationFailed("No announcement is showing.")
    for row in showing:
        row.removed_at, row.removed_by = now, actor.id
        session.add(row)
        await audit.record(session, "announcement.remove", actor_user_id=actor.id, target=f"announcement:{row.id}",
                           client_ip=client_ip)
    await session.commit()
    await live.publish({"type": "announcement"})
    return len(showing)
