"""The member's Overseerr user: looking it up (remembered a while), and an admin adding it."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ...db import as_utc
from ...errors import Forbidden, IntegrationUnavailable, NotFound, ValidationFailed
from ...integrations.overseerr import OverseerrClient
from ...models import Notification, User, id_of, utcnow
from .. import audit, notifications
from ..auth import CurrentUser

USER_MAP_TTL = timedelta(minutes=10)
NO_USER_RECHECK = timedelta(minutes=1)


class NotInOverseerr(ValidationFailed):
    """The member's Plex account has no Overseerr user yet."""

    user_message = ("Your Plex account is not set up in Overseerr yet, so requests cannot be sent for you. "
                    "An admin can add you from the Users page; you will be able to request after that.")


async def overseerr_user_id(session: AsyncSession, user_id: int, overseerr: OverseerrClient, *,
                            refresh: bool = False) -> int | None:
    """The Overseerr user with this member's Plex id (admin key lookup, remembered 10 minutes).

    Returns None when there is none. Raises ``IntegrationUnavailable`` only when Overseerr does not
    answer and nothing was remembered."""
    user = await session.get(User, user_id)
    if user is None or user.plex_id is None:
        return None
    checked = as_utc(user.overseerr_checked_at)
    now = utcnow()
    if not refresh and checked is not None:
        ttl = USER_MAP_TTL if user.overseerr_user_id is not None else NO_USER_RECHECK
        if now - checked < ttl:
            return user.overseerr_user_id
    try:
        found = await overseerr.user_by_plex_id(user.plex_id)
    except IntegrationUnavailable:
        if user.overseerr_user_id is not None:
            return user.overseerr_user_id
        raise
    user.overseerr_user_id = found.id if found else None
    user.overseerr_checked_at = now
    session.add(user)
    await session.commit()
    return user.overseerr_user_id


async def import_member(session: AsyncSession, *, actor: CurrentUser, user_id: int, overseerr: OverseerrClient,
                        client_ip: str | None = None) -> str:
    """Admin: create the member's Overseerr user from Plex (``import-from-plex``)."""
    if not actor.is_admin:
        raise Forbidden("Only admins can add members to Overseerr.")
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound()
    if user.plex_id is None:
        raise ValidationFailed("The local admin has no Plex account to add to Overseerr.")
    if await overseerr_user_id(session, user_id, overseerr, refresh=True) is not None:
        return f"{user.username} is already in Overseerr."
    await overseerr.import_from_plex([user.plex_id])
    mapped = await overseerr_user_id(session, user_id, overseerr, refresh=True)
    await audit.record(session, "overseerr.import_user", actor_user_id=actor.id, target=str(user_id),
                       client_ip=client_ip, found=mapped is not None)
    if mapped is None:
        raise ValidationFailed(f"Overseerr did not add {user.username}: their Plex account must have access to "
                               "the server Overseerr uses.")
    await notifications.add(session, id_of(user), kind="overseerr_ready", title="You can request now",
                            body="An admin added you to Overseerr.", link="/search", link_label="Search")
    await session.commit()
    await notifications.announce([id_of(user)], reason="import")
    return f"{user.username} was added to Overseerr."


async def members_without_overseerr(session: AsyncSession, overseerr: OverseerrClient) -> set[int]:
    """MediaNest user ids with a Plex account that has no Overseerr user (fresh lookup)."""
    people = {u.plex_id: id_of(u)
              for u in (await session.exec(select(User).where(col(User.plex_id).is_not(None)))).all()}
    known = {u.plex_id for u in await overseerr.users()}
    return {uid for pid, uid in people.items() if pid not in known}


async def ask_admins_to_import(session: AsyncSession, user: CurrentUser) -> None:
    """Tell the admins (once, until they dismiss it) that a member cannot request yet."""
    title = f"{user.username} cannot request yet"
    admins = [a for a in await notifications.admin_ids(session) if a != user.id]
    told = set((await session.exec(select(Notification.user_id).where(
        Notification.title == title, col(Notification.read_at).is_(None)))).all())
    for admin_id in admins:
        if admin_id not in told:
            await notifications.add(session, admin_id, kind="not_in_overseerr", title=title,
                                    body="Their Plex account has no Overseerr user. Add them from the Users page.",
                                    link="/admin", link_label="Open Users")
    await session.commit()
    await notifications.announce(set(admins) - told, reason="import-offer")
