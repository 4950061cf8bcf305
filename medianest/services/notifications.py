"""Member notifications ("… is now available — Watch in Plex"), kept until dismissed.

The database holds them; ``announce`` tells the web processes (through the live bridge) which
members have something new, and their open tabs reload what they show."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from .. import live
from ..db import as_utc
from ..models import Notification, Role, User, id_of, ids_of, utcnow

MAX_SHOWN = 5


@dataclass(frozen=True)
class NoticeView:
    id: int
    kind: str
    title: str
    body: str
    link: str
    link_label: str
    created_at: datetime


@dataclass(frozen=True)
class NoticeCard:
    """A notification as the corner cards show it; ``external`` links open a new tab (Plex)."""

    id: int
    kind: str
    title: str
    body: str
    link: str
    link_label: str
    external: bool


def card(n: NoticeView) -> NoticeCard:
    return NoticeCard(n.id, n.kind, n.title, n.body, n.link, n.link_label, n.link.startswith("http"))


async def add(session: AsyncSession, user_id: int, *, kind: str, title: str, body: str = "",
              link: str | None = None, link_label: str | None = None) -> Notification:
    """Add one notification in the caller's transaction."""
    notice = Notification(user_id=user_id, kind=kind, title=title[:255], body=body[:1024], link=link,
                          link_label=link_label)
    session.add(notice)
    return notice


async def unread(session: AsyncSession, user_id: int, *, limit: int = MAX_SHOWN) -> tuple[list[NoticeView], int]:
    """The newest unread notifications and how many are unread in all."""
    rows = (await session.exec(
        select(Notification).where(Notification.user_id == user_id, col(Notification.read_at).is_(None))
        .order_by(col(Notification.id).desc()).limit(limit))).all()
    count = (await session.exec(
        select(sa.func.count()).select_from(Notification)
        .where(Notification.user_id == user_id, col(Notification.read_at).is_(None)))).one()
    return [NoticeView(id_of(n), n.kind, n.title, n.body, n.link or "", n.link_label or "", as_utc(n.created_at))
            for n in rows], int(count)


async def dismiss(session: AsyncSession, user_id: int, notification_id: int | None = None) -> int:
    """Mark one (or, without an id, every) unread notification of this member read."""
    stmt = sa.update(Notification).where(col(Notification.user_id) == user_id, col(Notification.read_at).is_(None))
    if notification_id is not None:
        stmt = stmt.where(col(Notification.id) == int(notification_id))
    result = await session.exec(stmt.values(read_at=utcnow()))
    return int(result.rowcount or 0)


async def admin_ids(session: AsyncSession) -> list[int]:
    return ids_of((await session.exec(select(col(User.id)).where(User.role == Role.ADMIN.value))).all())


async def announce(user_ids: Iterable[int], *, reason: str = "") -> None:
    """Tell every web process that these members' requests or notifications changed
    (call after the commit; best effort, the database already holds the truth)."""
    ids = sorted({int(i) for i in user_ids})
    if ids:
        await live.publish({"type": "user", "user_ids": ids, "reason": reason})
