"""The request lists (with their filters and labels) and an admin's approve/decline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ...db import as_utc
from ...errors import Forbidden, NotFound, ValidationFailed
from ...integrations.overseerr import OverseerrClient
from ...models import OPEN_REQUEST_STATUSES, MediaRequest, RequestStatus, User, id_of
from .. import audit, notifications
from ..auth import CurrentUser
from .sync import apply_overseerr

PAGE_SIZE = 20
MAX_REASON = 500

STATUS_LABELS = {
    RequestStatus.QUEUED.value: "Queued",
    RequestStatus.PENDING.value: "Pending approval",
    RequestStatus.APPROVED.value: "Approved",
    RequestStatus.PROCESSING.value: "Processing",
    RequestStatus.PARTIALLY_AVAILABLE.value: "Partly available",
    RequestStatus.AVAILABLE.value: "Available",
    RequestStatus.DECLINED.value: "Declined",
    RequestStatus.FAILED.value: "Failed",
    RequestStatus.REFUSED.value: "Not accepted",
    RequestStatus.DUPLICATE.value: "Already requested",
}
#: The "filter by status" choices of the request lists (value → statuses).
STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "all": (),
    "open": OPEN_REQUEST_STATUSES,
    "queued": (RequestStatus.QUEUED.value,),
    "pending": (RequestStatus.PENDING.value,),
    "approved": (RequestStatus.APPROVED.value, RequestStatus.PROCESSING.value),
    "available": (RequestStatus.AVAILABLE.value, RequestStatus.PARTIALLY_AVAILABLE.value),
    "declined": (RequestStatus.DECLINED.value,),
    "failed": (RequestStatus.FAILED.value, RequestStatus.REFUSED.value, RequestStatus.DUPLICATE.value),
}


@dataclass(frozen=True)
class RequestRow:
    """One request as the lists show it."""

    id: int
    user_id: int
    username: str
    title: str
    year: int | None
    media_type: str
    tmdb_id: int
    seasons: tuple[int, ...]
    poster_path: str | None
    status: str
    label: str
    message: str
    created_at: datetime
    updated_at: datetime
    plex_url: str | None
    decline_reason: str | None
    can_decide: bool


async def list_requests(session: AsyncSession, *, viewer: CurrentUser, mine: bool = True, status: str = "all",
                        media_type: str = "all", member_id: int | None = None, page: int = 1
                        ) -> tuple[list[RequestRow], int]:
    """A page (20) of requests, newest first, and the total. Only admins may list others'."""
    if status not in STATUS_FILTERS:
        raise ValidationFailed("Unknown status filter.")
    if media_type not in ("all", "movie", "tv"):
        raise ValidationFailed("Unknown type filter.")
    if not mine and not viewer.is_admin:
        raise Forbidden("Only admins can see every request.")
    conditions: list[sa.ColumnElement[bool]] = []
    if mine:
        conditions.append(col(MediaRequest.user_id) == viewer.id)
    elif member_id is not None:
        conditions.append(col(MediaRequest.user_id) == int(member_id))
    if STATUS_FILTERS[status]:
        conditions.append(col(MediaRequest.status).in_(STATUS_FILTERS[status]))
    if media_type != "all":
        conditions.append(col(MediaRequest.media_type) == media_type)
    total = (await session.exec(select(sa.func.count()).select_from(MediaRequest).where(*conditions))).one()
    page = max(1, int(page))
    rows = (await session.exec(
        select(MediaRequest, User.username).join(User, col(User.id) == col(MediaRequest.user_id)).where(*conditions)
        .order_by(col(MediaRequest.id).desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE))).all()
    return [_row_view(r, name, viewer) for r, name in rows], int(total)


def _row_view(row: MediaRequest, username: str, viewer: CurrentUser) -> RequestRow:
    message = row.decline_reason if row.status == RequestStatus.DECLINED.value and row.decline_reason else (
        row.last_error or "")
    return RequestRow(
        id=id_of(row), user_id=row.user_id, username=username, title=row.title, year=row.year,
        media_type=row.media_type, tmdb_id=row.tmdb_id, seasons=tuple(row.seasons or ()),
        poster_path=row.poster_path, status=row.status, label=STATUS_LABELS.get(row.status, row.status.title()),
        message=message, created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at),
        plex_url=row.plex_url, decline_reason=row.decline_reason,
        can_decide=viewer.is_admin and row.status == RequestStatus.PENDING.value
        and row.overseerr_request_id is not None)


async def decide(session: AsyncSession, *, actor: CurrentUser, request_id: int, approve: bool,
                 reason: str = "", overseerr: OverseerrClient, client_ip: str | None = None) -> str:
    """Admin: approve or decline a pending request in Overseerr; a decline reason is kept here
    (Overseerr's API has no field for it) and shown to the member."""
    if not actor.is_admin:
        raise Forbidden("Only admins can approve or decline requests.")
    reason = " ".join((reason or "").split())
    if len(reason) > MAX_REASON:
        raise ValidationFailed(f"Keep the reason under {MAX_REASON} characters.")
    row = await session.get(MediaRequest, int(request_id))
    if row is None:
        raise NotFound("That request no longer exists.")
    if row.overseerr_request_id is None or row.status != RequestStatus.PENDING.value:
        raise ValidationFailed(f"{row.title} is not waiting for approval any more ({STATUS_LABELS.get(row.status)}).")
    if approve:
        remote = await overseerr.approve(row.overseerr_request_id)
    else:
        # Saved first: Overseerr's webhook may report the decline before this call returns, and
        # whichever path records the change tells the member, with the reason.
        row.decline_reason = reason or None
        session.add(row)
        await session.commit()
        remote = await overseerr.decline(row.overseerr_request_id, reason or None)
    await apply_overseerr(session, row, remote)
    await audit.record(session, "request.approve" if approve else "request.decline", actor_user_id=actor.id,
                       target=str(row.id), client_ip=client_ip, overseerr_request_id=row.overseerr_request_id,
                       reason=reason or None)
    await session.commit()
    await notifications.announce([row.user_id, *await notifications.admin_ids(session)], reason="decision")
    return f"{row.title} was {'approved' if approve else 'declined'}."
