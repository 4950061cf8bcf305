"""The admin's user table as typed rows: role, status, sign-in kind and the Overseerr link."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from ..errors import IntegrationUnavailable
from ..integrations.overseerr import OverseerrClient
from . import media_requests, users
from .auth import CurrentUser


@dataclass(frozen=True)
class MemberRow:
    """``overseerr``: ``linked``, ``missing`` (can be imported), ``unknown`` (Overseerr not
    answering) or ``n/a`` (no Overseerr, or a local account)."""

    id: str
    username: str
    initials: str
    email: str
    avatar: str
    role: str
    status: str
    kind: str
    last_login: str
    overseerr: str


async def member_rows(session: AsyncSession, *, actor: CurrentUser, overseerr: OverseerrClient | None
                      ) -> list[MemberRow]:
    """Everyone who has signed in, for an admin.

    Raises:
        Forbidden: the actor is not an admin.
    """
    found = await users.list_users(session, actor=actor)
    missing: set[int] | None = None
    if overseerr is not None:
        try:
            missing = await media_requests.members_without_overseerr(session, overseerr)
        except IntegrationUnavailable:
            missing = None

    def overseerr_state(u: users.UserRow) -> str:
        if overseerr is None or u.is_local:
            return "n/a"
        if missing is None:
            return "unknown"
        return "missing" if u.id in missing else "linked"

    return [MemberRow(
        id=str(u.id), username=u.username, initials=u.username[:2].upper(), email=u.email or "",
        avatar=u.avatar_url or "", role=u.role, status=u.status, kind="Local" if u.is_local else "Plex",
        last_login=u.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if u.last_login_at else "never",
        overseerr=overseerr_state(u),
    ) for u in found]
