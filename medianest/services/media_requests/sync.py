"""Following Overseerr's status: the scheduled sync, the webhook path and followed titles."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ...db import SessionFactory
from ...errors import IntegrationRejected, IntegrationUnavailable
from ...integrations.overseerr import MediaRequest as OverseerrRequest
from ...integrations.overseerr import OverseerrClient, OverseerrNotFound
from ...models import OPEN_REQUEST_STATUSES, MediaRequest, RequestFollow, RequestStatus, ids_of, utcnow
from .. import notifications
from .common import AVAILABLE, notify_available, status_from_overseerr
from .delivery import release_waiting

logger = logging.getLogger(__name__)


async def apply_overseerr(session: AsyncSession, row: MediaRequest, remote: OverseerrRequest) -> bool:
    """Update a row from Overseerr and notify the member of the change. True when it changed.

    The status moves with a conditional UPDATE (``WHERE status = <old>``): when the scheduled
    sync, the webhook and an admin's decision see the same change at once, exactly one of them
    wins and notifies."""
    status = status_from_overseerr(remote)
    old, now = row.status, utcnow()
    plex_url = remote.plex_url or row.plex_url
    if status == old:
        row.synced_at, row.plex_url = now, plex_url
        session.add(row)
        return False
    values = {"status": status, "updated_at": now, "synced_at": now, "plex_url": plex_url}
    if status in AVAILABLE and old not in AVAILABLE:
        values["completed_at"] = now
    won = await session.exec(sa.update(MediaRequest).where(
        col(MediaRequest.id) == row.id, col(MediaRequest.status) == old).values(**values))
    await session.refresh(row)
    if not won.rowcount:
        return False
    if status == RequestStatus.AVAILABLE.value or (status == RequestStatus.PARTIALLY_AVAILABLE.value
                                                   and old not in AVAILABLE):
        await notify_available(session, row.user_id, row.title, row.plex_url, partly=status != "available")
    elif status == RequestStatus.DECLINED.value:
        reason = f" Reason: {row.decline_reason}" if row.decline_reason else ""
        await notifications.add(session, row.user_id, kind="declined", title=f"{row.title} was declined",
                                body=f"Your request was declined.{reason}", link="/requests",
                                link_label="My requests")
    elif status == RequestStatus.FAILED.value:
        await notifications.add(session, row.user_id, kind="failed", title=f"{row.title} could not be fetched",
                                body="Overseerr could not hand the request to the downloader. An admin can retry "
                                     "it in Overseerr.", link="/requests", link_label="My requests")
    elif status in (RequestStatus.APPROVED.value, RequestStatus.PROCESSING.value) and old in (
            RequestStatus.PENDING.value, RequestStatus.QUEUED.value):
        await notifications.add(session, row.user_id, kind="approved", title=f"{row.title} was approved",
                                body="It will be available once it has been downloaded.", link="/requests",
                                link_label="My requests")
    logger.info("request %s: %s -> %s", row.id, old, status)
    return True


#: What the status sync looks at: open requests, and failed ones (an admin may retry them in Overseerr).
SYNCED_STATUSES = (*OPEN_REQUEST_STATUSES, RequestStatus.FAILED.value)


async def sync_open(session_factory: SessionFactory, overseerr: OverseerrClient) -> int:
    """Check every open request and followed title against Overseerr; returns how many members
    saw a change. Stops early (until the next run) when Overseerr does not answer."""
    async with session_factory() as session:
        ids = ids_of((await session.exec(select(col(MediaRequest.id)).where(
            col(MediaRequest.status).in_(SYNCED_STATUSES), col(MediaRequest.overseerr_request_id).is_not(None)))).all())
    changed: set[int] = set()
    try:
        for row_id in ids:
            async with session_factory() as session:
                row = await session.get(MediaRequest, row_id)
                if row is None or row.overseerr_request_id is None:
                    continue
                try:
                    remote = await overseerr.request(row.overseerr_request_id)
                except OverseerrNotFound:
                    removed = await session.exec(sa.update(MediaRequest).where(
                        col(MediaRequest.id) == row.id, col(MediaRequest.status) == row.status).values(
                        status=RequestStatus.DECLINED.value, updated_at=utcnow(),
                        last_error="The request was removed in Overseerr."))
                    if removed.rowcount:
                        await notifications.add(session, row.user_id, kind="declined",
                                                title=f"{row.title} was removed",
                                                body="The request was removed in Overseerr.", link="/requests",
                                                link_label="My requests")
                        changed.add(row.user_id)
                    continue
                except IntegrationRejected as exc:
                    logger.warning("request %s: Overseerr refused the status lookup: %s", row_id, exc)
                    continue
                if await apply_overseerr(session, row, remote):
                    changed.add(row.user_id)
        changed |= await sync_follows(session_factory, overseerr)
    except IntegrationUnavailable as exc:
        logger.info("status sync stopped early, Overseerr is not answering: %s", exc)
    if changed:
        async with session_factory() as session:
            admins = await notifications.admin_ids(session)
        await notifications.announce([*changed, *admins], reason="sync")
    return len(changed)


async def sync_follows(session_factory: SessionFactory, overseerr: OverseerrClient,
                       titles: Sequence[tuple[str, int]] | None = None) -> set[int]:
    """Followed titles that became available: notify each follower once (a conditional UPDATE on
    ``notified_at`` makes "once" hold when two syncs run together).

    Raises ``IntegrationUnavailable`` when Overseerr does not answer; a title Overseerr no longer
    knows is skipped."""
    async with session_factory() as session:
        stmt = select(RequestFollow.media_type, RequestFollow.tmdb_id).where(
            col(RequestFollow.notified_at).is_(None)).distinct()
        wanted = list((await session.exec(stmt)).all())
    if titles is not None:
        wanted = [t for t in wanted if tuple(t) in set(map(tuple, titles))]
    changed: set[int] = set()
    for media_type, tmdb_id in wanted:
        try:
            details = await (overseerr.movie(tmdb_id) if media_type == "movie" else overseerr.tv(tmdb_id))
        except IntegrationRejected as exc:
            logger.warning("followed %s %s: Overseerr refused the lookup: %s", media_type, tmdb_id, exc)
            continue
        new = {"available": RequestStatus.AVAILABLE.value,
               "partially_available": RequestStatus.PARTIALLY_AVAILABLE.value,
               "processing": RequestStatus.PROCESSING.value}.get(details.status, RequestStatus.PENDING.value)
        async with session_factory() as session:
            follows = (await session.exec(select(RequestFollow).where(
                RequestFollow.media_type == media_type, RequestFollow.tmdb_id == tmdb_id,
                col(RequestFollow.notified_at).is_(None)))).all()
            for follow in follows:
                if new == follow.status and new != RequestStatus.AVAILABLE.value:
                    continue
                plex_url = details.plex_url or follow.plex_url
                values: dict[str, str | datetime | None] = {"status": new, "plex_url": plex_url}
                if new == RequestStatus.AVAILABLE.value:
                    values["notified_at"] = utcnow()
                won = await session.exec(sa.update(RequestFollow).where(
                    col(RequestFollow.id) == follow.id, col(RequestFollow.notified_at).is_(None)).values(**values))
                if not won.rowcount:
                    continue
                if new == RequestStatus.AVAILABLE.value:
                    await notify_available(session, follow.user_id, follow.title, plex_url, partly=False)
                changed.add(follow.user_id)
    return changed


async def sync_by_overseerr_id(session_factory: SessionFactory, overseerr: OverseerrClient, overseerr_request_id: int,
                               ) -> int:
    """The webhook path: update the rows of one Overseerr request now."""
    async with session_factory() as session:
        await release_waiting(session, timeout_s=overseerr.timeout_s)  # Overseerr is evidently up again
        rows = (await session.exec(select(MediaRequest).where(
            MediaRequest.overseerr_request_id == int(overseerr_request_id)))).all()
        if not rows:
            return 0
        remote = await overseerr.request(int(overseerr_request_id))
        changed = {row.user_id for row in rows if await apply_overseerr(session, row, remote)}
        admins = await notifications.admin_ids(session)
        titles = [(row.media_type, row.tmdb_id) for row in rows]
    changed |= await sync_follows(session_factory, overseerr, titles)
    if changed:
        await notifications.announce([*changed, *admins], reason="webhook")
    return len(changed)
