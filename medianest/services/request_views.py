"""The request lists as the pages show them ("My requests", the admin's list): typed rows, the
member's follows, the members to filter by and the pagination."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..models import User, id_of
from . import media_requests
from .auth import CurrentUser
from .media_requests import PAGE_SIZE, RequestRow
from .posters import tmdb_poster

#: The status filter of both lists (value → label); the values are ``media_requests.STATUS_FILTERS``.
FILTERS = {"all": "All", "open": "Open", "queued": "Queued", "pending": "Pending", "approved": "Approved",
           "available": "Available", "declined": "Declined", "failed": "Not accepted / failed"}
TYPES = {"all": "Movies and shows", "movie": "Movies", "tv": "Shows"}


@dataclass(frozen=True)
class RequestView:
    id: int
    title: str
    year: str
    what: str
    status: str
    label: str
    message: str
    requested: str
    updated: str
    requested_iso: str
    updated_iso: str
    poster: str
    plex_url: str
    username: str
    can_decide: bool
    media_type: str


@dataclass(frozen=True)
class FollowView:
    id: int
    title: str
    year: str
    label: str
    status: str
    poster: str
    plex_url: str


@dataclass(frozen=True)
class MemberChoice:
    """A member in the admin's "filter by member" list (``id`` as text: the select's value)."""

    id: str
    name: str


@dataclass(frozen=True)
class RequestPage:
    rows: list[RequestView]
    total: int
    page: int
    pages: int


def pages_for(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def row_view(r: RequestRow) -> RequestView:
    what = "Movie" if r.media_type == "movie" else (
        "Show · seasons " + ", ".join(map(str, r.seasons)) if r.seasons else "Show")
    return RequestView(id=r.id, title=r.title, year=str(r.year or ""), what=what, status=r.status, label=r.label,
                       message=r.message, requested=_when(r.created_at), updated=_when(r.updated_at),
                       requested_iso=r.created_at.isoformat(), updated_iso=r.updated_at.isoformat(),
                       poster=tmdb_poster(r.poster_path, "w185"), plex_url=r.plex_url or "", username=r.username,
                       can_decide=r.can_decide, media_type=r.media_type)


async def request_page(session: AsyncSession, *, viewer: CurrentUser, mine: bool, status: str = "all",
                       media_type: str = "all", member_id: int | None = None, page: int = 1) -> RequestPage:
    """One page of requests; a page past the end (the list shrank meanwhile) gives the last one.

    Raises:
        ValidationFailed: an unknown filter.
        Forbidden: a member asking for others' requests.
    """
    page = max(1, int(page))
    found, total = await media_requests.list_requests(session, viewer=viewer, mine=mine, status=status,
                                                      media_type=media_type, member_id=member_id, page=page)
    if page > pages_for(total):
        page = pages_for(total)
        found, total = await media_requests.list_requests(session, viewer=viewer, mine=mine, status=status,
                                                          media_type=media_type, member_id=member_id, page=page)
    return RequestPage(rows=[row_view(r) for r in found], total=total, page=page, pages=pages_for(total))


async def followed(session: AsyncSession, user_id: int) -> list[FollowView]:
    """What the member follows (titles someone else requested), newest first."""
    return [FollowView(id=id_of(f), title=f.title, year=str(f.year or ""),
                       label=media_requests.STATUS_LABELS.get(f.status, f.status), status=f.status,
                       poster=tmdb_poster(f.poster_path, "w185"), plex_url=f.plex_url or "")
            for f in await media_requests.follows(session, user_id)]


async def members(session: AsyncSession) -> list[MemberChoice]:
    """Every member by name, for the admin's filter."""
    people = (await session.exec(select(User.id, User.username).order_by(User.username))).all()
    return [MemberChoice(id=str(i), name=n) for i, n in people]
