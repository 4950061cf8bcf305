"""The cleanup schedule's session pruning on PostgreSQL: only sessions that ended long ago and
tickets never used go; every session that may still matter stays."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from medianest.models import UserSession, utcnow
from medianest.services import maintenance
from medianest.tasks.maintenance import prune_sessions
from tests.factories import make_user


async def test_sessions_that_ended_long_ago_and_unused_tickets_are_removed(db):
    bob = make_user(db, username="bob")
    await db.flush()
    now = utcnow()
    days = timedelta(days=1)

    def session(name: str, **fields) -> UserSession:
        values = {"created_at": now - 60 * days, "activated_at": now - 60 * days, "expires_at": now + days, **fields}
        row = UserSession(id=name, user_id=bob.id, **values)
        db.add(row)
        return row

    session("valid")
    session("revoked-lately", revoked_at=now - 5 * days)
    session("expired-lately", expires_at=now - 5 * days)
    session("revoked-long-ago", revoked_at=now - 31 * days)
    session("expired-long-ago", expires_at=now - 31 * days)
    session("ticket-unused", activated_at=None, created_at=now - 2 * days)
    session("ticket-just-issued", activated_at=None, created_at=now - timedelta(minutes=2))
    await db.commit()

    assert await maintenance.prune_sessions(db, now=now) == 3
    await db.commit()
    left = set((await db.exec(select(UserSession.id))).all())
    assert left == {"valid", "revoked-lately", "expired-lately", "ticket-just-issued"}
    assert await prune_sessions() == 0  # the scheduled task: nothing more to remove
