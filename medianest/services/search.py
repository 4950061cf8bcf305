"""Searching Overseerr's catalogue, with a short cache and a stale fallback.

Results are cached ``SEARCH_CACHE_SECONDS`` (5 minutes) per query and page, in Redis when it is
configured (shared by every process) and in this process otherwise. Entries are kept a week
longer than they are fresh: when Overseerr does not answer, the last results are shown marked as
possibly out of date instead of an error.

Results are a snapshot of Overseerr at ``fetched_at``, shared by every member. ``overlay`` lays
what MediaNest learned since (webhook, status sync, follows, anyone's requests through MediaNest)
over that snapshot, per member: a title that became available shows Available with its Plex
link, one requested meanwhile shows Requested (or "You requested this"), and a request declined
since no longer shows as requested. ``known_available`` is the same knowledge for the request
path, which never sends a request for a title known to be available.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from ..db import as_utc
from ..errors import IntegrationUnavailable, ValidationFailed
from ..integrations.overseerr import OverseerrClient, SearchPage, SearchResult
from ..models import OPEN_REQUEST_STATUSES, MediaRequest, RequestFollow, RequestStatus

logger = logging.getLogger(__name__)

MAX_QUERY_LENGTH = 100
MAX_PAGE = 500
STALE_KEEP_S = 7 * 86400
MEMORY_ENTRIES = 512

#: Overseerr's media status → the badge a member sees.
BADGES = {
    "available": ("available", "Available"),
    "partially_available": ("partial", "Partly available"),
    "processing": ("processing", "Processing"),
    "pending": ("requested", "Requested"),
}
NOT_REQUESTED = ("none", "Not requested")


def badge_for(media_status: str) -> tuple[str, str]:
    """``(key, label)`` of the availability badge for an Overseerr media status name."""
    return BADGES.get(media_status, NOT_REQUESTED)


def normalise_query(query: str) -> str:
    """Trimmed, inner whitespace collapsed; raises ``ValidationFailed`` when unusable."""
    text = " ".join((query or "").split())
    if not text:
        raise ValidationFailed("Type a title to search for.")
    if len(text) > MAX_QUERY_LENGTH:
        raise ValidationFailed(f"Search for at most {MAX_QUERY_LENGTH} characters.")
    return text


@dataclass(frozen=True)
class SearchOutcome:
    query: str
    page: int
    total_pages: int
    total_results: int
    results: tuple[SearchResult, ...]
    from_cache: bool = False
    #: Overseerr did not answer; these are the last known results.
    stale: bool = False
    cached_at: float | None = None
    #: When Overseerr gave these results (the snapshot ``overlay`` compares MediaNest's news with).
    fetched_at: float = 0.0


class SearchCache:
    """``get``/``put`` of JSON-able values with an age; Redis or an in-process LRU."""

    def __init__(self, redis: Any = None, *, prefix: str = "medianest:", keep_s: int = STALE_KEEP_S,
                 max_entries: int = MEMORY_ENTRIES) -> None:
        self._redis = redis
        self._prefix = prefix
        self._keep_s = keep_s
        self._max = max_entries
        self._memory: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = asyncio.Lock()

    def key(self, query: str, page: int) -> str:
        digest = hashlib.sha1(f"{query.casefold()}\x00{page}".encode()).hexdigest()
        return f"{self._prefix}search:v1:{digest}"

    async def get(self, key: str) -> tuple[float, Any] | None:
        """``(stored_at, value)`` or None; a Redis failure reads as a miss."""
        if self._redis is None:
            async with self._lock:
                entry = self._memory.get(key)
                if entry is not None:
                    self._memory.move_to_end(key)
                return entry
        try:
            raw = await self._redis.get(key)
        except Exception as exc:
            logger.warning("search cache read failed: %s", exc)
            return None
        if raw is None:
            return None
        data = json.loads(raw)
        return float(data["at"]), data["value"]

    async def put(self, key: str, value: Any, *, at: float | None = None) -> None:
        stamp = time.time() if at is None else at
        if self._redis is None:
            async with self._lock:
                self._memory[key] = (stamp, value)
                self._memory.move_to_end(key)
                while len(self._memory) > self._max:
                    self._memory.popitem(last=False)
            return
        try:
            await self._redis.set(key, json.dumps({"at": stamp, "value": value}), ex=self._keep_s)
        except Exception as exc:
            logger.warning("search cache write failed: %s", exc)


def _page_to_json(page: SearchPage) -> dict[str, Any]:
    return {"page": page.page, "total_pages": page.total_pages, "total_results": page.total_results,
            "results": [dataclasses.asdict(r) for r in page.results]}


def _page_from_json(data: dict[str, Any]) -> SearchPage:
    return SearchPage(int(data["page"]), int(data["total_pages"]), int(data["total_results"]),
                      tuple(SearchResult(**r) for r in data["results"]))


async def search(overseerr: OverseerrClient, cache: SearchCache, query: str, page: int = 1, *,
                 fresh_s: int = 300) -> SearchOutcome:
    """Movies and shows matching ``query`` (one Overseerr page, 20 results).

    Raises:
        ValidationFailed: empty or too long a query, or a bad page number.
        IntegrationUnavailable: Overseerr does not answer and nothing is cached for this search.
    """
    text = normalise_query(query)
    if not 1 <= int(page) <= MAX_PAGE:
        raise ValidationFailed("That page of results does not exist.")
    key = cache.key(text, int(page))
    entry = await cache.get(key)
    now = time.time()
    if entry is not None and now - entry[0] < fresh_s:
        return _outcome(text, _page_from_json(entry[1]), from_cache=True, cached_at=entry[0], fetched_at=entry[0])
    try:
        result = await overseerr.search(text, int(page))
    except IntegrationUnavailable:
        if entry is None:
            raise
        logger.info("Overseerr unavailable; serving cached results for a search")
        return _outcome(text, _page_from_json(entry[1]), from_cache=True, stale=True, cached_at=entry[0],
                        fetched_at=entry[0])
    await cache.put(key, _page_to_json(result), at=now)
    return _outcome(text, result, fetched_at=now)


def _outcome(query: str, page: SearchPage, **kw: Any) -> SearchOutcome:
    return SearchOutcome(query=query, page=page.page, total_pages=page.total_pages,
                         total_results=page.total_results, results=page.results, **kw)


__all__ = ["BADGES", "NOT_REQUESTED", "Known", "SearchCache", "SearchOutcome", "Shown", "TitleAvailable",
           "badge_for", "cached", "known", "known_available", "normalise_query", "overlay", "page_from_json",
           "page_to_json", "search"]


async def cached(cache: SearchCache, query: str, page: int = 1, *, fresh_s: int = 300) -> SearchOutcome | None:
    """The fresh cached answer for this search, without calling Overseerr (None on a miss)."""
    text = normalise_query(query)
    entry = await cache.get(cache.key(text, int(page)))
    if entry is None or time.time() - entry[0] >= fresh_s:
        return None
    return _outcome(text, _page_from_json(entry[1]), from_cache=True, cached_at=entry[0], fetched_at=entry[0])


page_to_json, page_from_json = _page_to_json, _page_from_json


# --------------------------------------------------------------------------------------
# What MediaNest knows that a snapshot of Overseerr may not show
# --------------------------------------------------------------------------------------

Key = tuple[str, int]
_AVAILABLE = (RequestStatus.AVAILABLE.value, RequestStatus.PARTIALLY_AVAILABLE.value)


class TitleAvailable(ValidationFailed):
    """The title (or every chosen season) is already in Plex: nothing is sent to Overseerr."""

    def __init__(self, title: str, plex_url: str | None = None) -> None:
        super().__init__(f"{title} is already available in Plex; there is nothing to request.")
        self.plex_url = plex_url


@dataclass(frozen=True)
class _Availability:
    whole: bool  # the whole title (a movie, or every season of a show)
    seasons: frozenset[int]  # seasons of a show known to be in Plex
    plex_url: str | None
    at: float  # when MediaNest learned it (epoch seconds)


@dataclass(frozen=True)
class Known:
    """MediaNest's knowledge about some titles (from its own rows, kept current by the webhook
    and the status sync)."""

    #: The member's own open requests: ``{key: status}``.
    mine: dict[Key, str]
    #: Titles with an open request through MediaNest, by anyone.
    requested: set[Key]
    #: Titles the member follows.
    followed: set[Key]
    #: Titles (or seasons) known to be in Plex.
    available: dict[Key, _Availability]
    #: Latest decline of a request for the title through MediaNest (epoch seconds).
    declined_at: dict[Key, float]


def _epoch(value: datetime | None) -> float:
    stamp = as_utc(value)
    return stamp.timestamp() if stamp is not None else 0.0


# The request statuses that say something about a title today (the rest - refused, duplicate,
# failed - say nothing, and a member's history of them must not be read on every search).
_TELLING_STATUSES = (*OPEN_REQUEST_STATUSES, RequestStatus.DECLINED.value, RequestStatus.AVAILABLE.value)


async def known(session: AsyncSession, user_id: int, keys: Sequence[Key]) -> Known:
    """What MediaNest knows about these titles (two queries)."""
    empty = Known({}, set(), set(), {}, {})
    if not keys:
        return empty
    ids, wanted = {k[1] for k in keys}, set(keys)
    # sqlmodel's select() is typed for up to four columns; for more it builds this same Select.
    requests: Select[str, int, str, int, list[int], str | None, datetime, datetime | None] = Select(
        col(MediaRequest.media_type), col(MediaRequest.tmdb_id), col(MediaRequest.status), col(MediaRequest.user_id),
        col(MediaRequest.seasons), col(MediaRequest.plex_url), col(MediaRequest.updated_at),
        col(MediaRequest.completed_at))
    rows = (await session.exec(
        requests.where(col(MediaRequest.tmdb_id).in_(ids), col(MediaRequest.status).in_(_TELLING_STATUSES))
        .order_by(col(MediaRequest.id)))).all()
    followed: Select[str, int, int, str, str | None, datetime | None] = Select(
        col(RequestFollow.media_type), col(RequestFollow.tmdb_id), col(RequestFollow.user_id),
        col(RequestFollow.status), col(RequestFollow.plex_url), col(RequestFollow.notified_at))
    follows = (await session.exec(followed.where(
        col(RequestFollow.tmdb_id).in_(ids), sa.or_(col(RequestFollow.user_id) == user_id,
                                                    col(RequestFollow.status) == RequestStatus.AVAILABLE.value)))).all()
    result = empty
    found: dict[Key, list[_Availability]] = {}
    for media_type, tmdb_id, status, owner, seasons, plex_url, updated_at, completed_at in rows:
        key = (media_type, tmdb_id)
        if key not in wanted:
            continue
        if status in OPEN_REQUEST_STATUSES:
            result.requested.add(key)
            if owner == user_id:
                result.mine[key] = status
        if status == RequestStatus.DECLINED.value:
            result.declined_at[key] = max(result.declined_at.get(key, 0.0), _epoch(updated_at))
        if status == RequestStatus.AVAILABLE.value or (status == RequestStatus.PARTIALLY_AVAILABLE.value
                                                        and media_type == "tv"):
            # A show's row is "available" when the seasons it asked for are: the seasons, not the show.
            whole = media_type == "movie"
            got = frozenset(seasons or ()) if status == RequestStatus.AVAILABLE.value else frozenset()
            found.setdefault(key, []).append(_Availability(whole, got, plex_url,
                                                           _epoch(completed_at or updated_at)))
    for media_type, tmdb_id, owner, status, plex_url, notified_at in follows:
        key = (media_type, tmdb_id)
        if key not in wanted:
            continue
        if owner == user_id:
            result.followed.add(key)
        if status == RequestStatus.AVAILABLE.value:  # set from Overseerr's whole-title status
            found.setdefault(key, []).append(_Availability(True, frozenset(), plex_url, _epoch(notified_at)))
    for key, items in found.items():
        result.available[key] = _Availability(
            any(a.whole for a in items), frozenset().union(*(a.seasons for a in items)),
            next((a.plex_url for a in sorted(items, key=lambda a: -a.at) if a.plex_url), None),
            max(a.at for a in items))
    return result


@dataclass(frozen=True)
class Shown:
    """One result as a member should see it: ``result.status`` already corrected."""

    result: SearchResult
    #: Status of the member's own open request for it ("" when none).
    mine: str
    following: bool


_NOT_REQUESTED = ("unknown", "deleted", "other")


def overlay(results: Sequence[SearchResult], info: Known, fetched_at: float) -> list[Shown]:
    """Lay MediaNest's knowledge over a snapshot of Overseerr taken at ``fetched_at``.

    Knowledge newer than the snapshot wins: available beats any other status (a member must not
    be offered to request what is in Plex), a decline clears a "pending" the snapshot still
    shows. An open request through MediaNest always shows (Overseerr may not have it yet)."""
    shown = []
    for r in results:
        key = (r.media_type, r.tmdb_id)
        status, plex_url = r.status, r.plex_url
        news = info.available.get(key)
        if news is not None and news.at >= fetched_at and status != "available":
            if news.whole:
                status = "available"
            elif news.seasons and status != "partially_available":
                status = "partially_available"
            if status != r.status:
                plex_url = plex_url or news.plex_url
        if status == "pending" and key not in info.requested and info.declined_at.get(key, 0.0) >= fetched_at:
            status = "unknown"
        if status in _NOT_REQUESTED and key in info.requested and key not in info.mine:
            status = "pending"  # requested through MediaNest meanwhile
        mine = "" if status == "available" else info.mine.get(key, "")
        if status != r.status or plex_url != r.plex_url:
            r = dataclasses.replace(r, status=status, plex_url=plex_url)
        shown.append(Shown(r, mine, key in info.followed))
    return shown


async def known_available(session: AsyncSession, media_type: str, tmdb_id: int,
                          seasons: Sequence[int] = ()) -> _Availability | None:
    """Whether MediaNest knows the movie, or every one of ``seasons`` of the show, to be in Plex."""
    news = (await known(session, 0, [(media_type, tmdb_id)])).available.get((media_type, tmdb_id))
    if news is None:
        return None
    if news.whole or (media_type == "tv" and seasons and set(seasons) <= news.seasons):
        return news
    return None
