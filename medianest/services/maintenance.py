"""What the cleanup schedule removes besides old status history: sessions that ended long ago.

A session row is kept while it can still matter (valid, or recently ended: a tab may come back
with its cookie, the admin may look at who signed in when); once it expired or was revoked more
than ``ENDED_SESSION_DAYS`` ago, or its one-time sign-in ticket was never used within a day, it is
only clutter in a table every handler reads through.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from ..models import UserSession, utcnow

logger = logging.getLogger(__name__)

ENDED_SESSION_DAYS = 30
#: A sign-in ticket is exchanged within minutes; a row never activated after this never will be.
UNUSED_TICKET = timedelta(days=1)


async def prune_sessions(session: AsyncSession, *, keep_days: int = ENDED_SESSION_DAYS,
                         now: datetime | None = None) -> int:
    """Delete sessions that ended more than ``keep_days`` ago and tickets never used; returns how
    many. The caller commits."""
    now = now or utcnow()
    cutoff = now - timedelta(days=keep_days)
    ended = (col(UserSession.expires_at) < cutoff) | (col(UserSession.revoked_at) < cutoff)
    unused = col(UserSession.activated_at).is_(None) & (col(UserSession.created_at) < now - UNUSED_TICKET)
    result = await session.exec(sa.delete(UserSession).where(ended | unused))
    removed = int(result.rowcount or 0)
    if removed:
        logger.info("removed %s ended sessions", removed)
    return removed
