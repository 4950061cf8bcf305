"""What every part of a request shares: the member's draft, MediaNest's status of an Overseerr
request, and the "now available" notification."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from ...integrations.overseerr import MediaRequest as OverseerrRequest
from ...models import RequestStatus
from .. import notifications

AVAILABLE = frozenset({RequestStatus.AVAILABLE.value, RequestStatus.PARTIALLY_AVAILABLE.value})


@dataclass(frozen=True)
class Draft:
    """What the member asked for (title, year and poster are for display only)."""

    media_type: str
    tmdb_id: int
    title: str
    year: int | None = None
    poster_path: str | None = None
    seasons: tuple[int, ...] = ()


def status_from_overseerr(req: OverseerrRequest) -> str:
    """MediaNest's status of a request from Overseerr's request and media statuses (both flavours).

    A show request follows the seasons it asked for: S3 of a show whose S1–2 are in Plex is not
    "partly available" until S3 itself (or part of it) is."""
    if req.status == "declined":
        return RequestStatus.DECLINED.value
    if req.status == "failed":
        return RequestStatus.FAILED.value
    if req.status == "pending":
        return RequestStatus.PENDING.value
    if req.media_status in ("deleted", "blocklisted"):
        return RequestStatus.APPROVED.value  # Seerr "completes" requests of deleted media: not "available"
    if req.status == "completed":
        return RequestStatus.AVAILABLE.value
    asked = {s.season_number for s in req.seasons}
    if req.media_type == "tv" and asked and req.media_seasons:
        found = {s.season_number: s.status for s in req.media_seasons}
        states = [found.get(n, "unknown") for n in sorted(asked)]
        if all(state == "available" for state in states):
            return RequestStatus.AVAILABLE.value
        if any(state in ("available", "partially_available") for state in states):
            return RequestStatus.PARTIALLY_AVAILABLE.value
        return RequestStatus.PROCESSING.value if req.media_status in ("processing", "partially_available") \
            else RequestStatus.APPROVED.value
    if req.media_status == "available":
        return RequestStatus.AVAILABLE.value
    if req.media_status == "partially_available":
        return RequestStatus.PARTIALLY_AVAILABLE.value
    if req.media_status == "processing":
        return RequestStatus.PROCESSING.value
    return RequestStatus.APPROVED.value


async def notify_available(session: AsyncSession, user_id: int, title: str, plex_url: str | None, *,
                            partly: bool) -> None:
    await notifications.add(
        session, user_id, kind="available", title=f"{title} is {'partly ' if partly else ''}available",
        body="It is in Plex now." if not partly else "Some of it is in Plex now.",
        link=plex_url or "/library", link_label="Watch in Plex")
