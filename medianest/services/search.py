"""Searching Overseerr's catalogue, with a short cache and a stale fallback.

Results are cached ``SEARCH_CACHE_SECONDS`` (5 minutes) per query and page, in Redis when it is
configured (shared by every process) and in this process otherwise. Entries are kept a week
longer than they are fresh: when Overseerr does not answer, the last results are shown marked as
possibly out of date instead of an error.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..errors import IntegrationUnavailable, ValidationFailed
from ..integrations.overseerr import OverseerrClient, SearchPage, SearchResult

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
        except Exception as exc:  # noqa: BLE001 - a cache must never break search
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
        except Exception as exc:  # noqa: BLE001
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
        return _outcome(text, _page_from_json(entry[1]), from_cache=True, cached_at=entry[0])
    try:
        result = await overseerr.search(text, int(page))
    except IntegrationUnavailable:
        if entry is None:
            raise
        logger.info("Overseerr unavailable; serving cached results for a search")
        return _outcome(text, _page_from_json(entry[1]), from_cache=True, stale=True, cached_at=entry[0])
    await cache.put(key, _page_to_json(result), at=now)
    return _outcome(text, result)


def _outcome(query: str, page: SearchPage, **kw: Any) -> SearchOutcome:
    return SearchOutcome(query=query, page=page.page, total_pages=page.total_pages,
                         total_results=page.total_results, results=page.results, **kw)


__all__ = ["BADGES", "NOT_REQUESTED", "SearchCache", "SearchOutcome", "badge_for", "cached", "normalise_query",
           "search"]


async def cached(cache: SearchCache, query: str, page: int = 1, *, fresh_s: int = 300) -> SearchOutcome | None:
    """The fresh cached answer for this search, without calling Overseerr (None on a miss)."""
    text = normalise_query(query)
    entry = await cache.get(cache.key(text, int(page)))
    if entry is None or time.time() - entry[0] >= fresh_s:
        return None
    return _outcome(text, _page_from_json(entry[1]), from_cache=True, cached_at=entry[0])
