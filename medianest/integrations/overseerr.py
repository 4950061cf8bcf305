"""Overseerr / Seerr client (API v1, see ``shared/docs/integrations.md`` §3).

Works with Overseerr 1.34 and Seerr 3.x: status numbers of both are mapped to names
(``REQUEST_STATUSES``, ``MEDIA_STATUSES``); numbers neither knows become ``"other"``.
Requests on behalf of a member are sent with ``X-Api-User`` so that the member's own
permissions, quota and auto-approve rights apply (the API key alone acts as the admin
and would auto-approve everything, §3.7).

Errors (``overseerr_errors.py``): 409 → ``AlreadyRequested``, 403 on requests →
``RequestNotAllowed``, an unknown TMDB id (500 "Unable to retrieve …", §3.6) or request (404) →
``OverseerrNotFound``, the API key refused on a call made as MediaNest itself → ``ApiKeyRefused``;
all are ``IntegrationRejected`` with a plain ``user_message`` and do not trip the breaker.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Unpack
from urllib.parse import quote

import httpx
import pybreaker

from ..errors import IntegrationRejected, IntegrationUnavailable
from .base import BaseClient, ClientOptions, breaker_error, int_or_none
from .overseerr_errors import (
    AlreadyRequested,
    ApiKeyRefused,
    OverseerrNotFound,
    OverseerrRejected,
    RequestNotAllowed,
)

logger = logging.getLogger(__name__)

#: ``MediaRequestStatus`` of Overseerr (1-4) and Seerr (+5).
REQUEST_STATUSES = {1: "pending", 2: "approved", 3: "declined", 4: "failed", 5: "completed"}
#: ``MediaStatus`` of Overseerr (1-5) and Jellyseerr/Seerr (+6 blocklisted, 7 deleted).
MEDIA_STATUSES = {1: "unknown", 2: "pending", 3: "processing", 4: "partially_available", 5: "available",
                  6: "blocklisted", 7: "deleted"}
OTHER = "other"
REQUEST_FILTERS = frozenset({"all", "approved", "available", "pending", "processing", "unavailable", "failed",
                             "completed", "deleted"})
ADMIN_PERMISSION = 2
_PAGE = 50


def request_status_name(value: Any) -> str:
    """``"pending"``, ``"approved"`` … or ``"other"`` for numbers neither flavour defines."""
    return REQUEST_STATUSES.get(value, OTHER) if isinstance(value, int) else OTHER


def media_status_name(value: Any) -> str:
    """``"unknown"`` … ``"available"``, ``"blocklisted"``, ``"deleted"`` or ``"other"``."""
    return MEDIA_STATUSES.get(value, OTHER) if isinstance(value, int) else OTHER


def search_query_string(query: str, page: int = 1) -> str:
    """``query=…&page=…`` with every reserved character percent-encoded (space → ``%20``).

    Overseerr's validator rejects ``+`` and other raw reserved characters in ``query``
    (§3.2), and httpx's ``params=`` would send them, so the string is built here.
    """
    return f"query={quote(query, safe='')}&page={int(page)}"


# --------------------------------------------------------------------------------------
# Typed results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeasonStatus:
    """One season: ``status`` is a media status name (or request status name in a request)."""

    season_number: int
    status: str


@dataclass(frozen=True)
class SearchResult:
    """A movie or show from ``/search``; ``status`` is the media status (``"unknown"`` without a Media row)."""

    tmdb_id: int
    media_type: str
    title: str
    year: int | None
    overview: str
    poster_path: str | None
    status: str
    media_id: int | None
    plex_url: str | None = None


@dataclass(frozen=True)
class SearchPage:
    page: int
    total_pages: int
    total_results: int
    results: tuple[SearchResult, ...]


@dataclass(frozen=True)
class MediaDetails:
    """``/movie/{id}`` or ``/tv/{id}``; TV carries the TMDB seasons with their availability."""

    tmdb_id: int
    media_type: str
    title: str
    year: int | None
    overview: str
    poster_path: str | None
    status: str
    media_id: int | None
    rating_key: str | None
    seasons: tuple[SeasonStatus, ...]
    request_ids: tuple[int, ...]
    plex_url: str | None = None
    #: TV: seasons in a request that is not declined (pending, approved…): "already requested".
    requested_seasons: tuple[int, ...] = ()


@dataclass(frozen=True)
class OverseerrUser:
    id: int
    display_name: str
    plex_id: int | None
    plex_username: str | None
    email: str | None
    permissions: int
    request_count: int
    movie_quota_limit: int | None
    tv_quota_limit: int | None

    @property
    def is_admin(self) -> bool:
        return bool(self.permissions & ADMIN_PERMISSION)


@dataclass(frozen=True)
class MediaRequest:
    """One request. ``status`` is a request status name, ``media_status`` a media status name."""

    id: int
    status: str
    status_code: int | None
    media_type: str
    tmdb_id: int | None
    media_status: str
    is4k: bool
    seasons: tuple[SeasonStatus, ...]
    requested_by_id: int | None
    requested_by_plex_id: int | None
    modified_by_id: int | None
    created_at: str | None
    updated_at: str | None
    plex_url: str | None = None
    rating_key: str | None = None
    #: Availability of each season of the media (TV), as media status names.
    media_seasons: tuple[SeasonStatus, ...] = ()


@dataclass(frozen=True)
class RequestPage:
    page: int
    pages: int
    total: int
    results: tuple[MediaRequest, ...]


# --------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------


_int = int_or_none


def _year(date: Any) -> int | None:
    return _int(date[:4]) if isinstance(date, str) and len(date) >= 4 else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def plex_link(media: Mapping[str, Any]) -> str | None:
    """The web link to the title in Plex: Overseerr's ``plexUrl`` or Seerr's ``mediaUrl`` (Seerr 3.1
    sends ``plexUrl: null``, §3.13). ``iOSPlexUrl`` is a ``plex://`` app link, not for a browser."""
    for key in ("plexUrl", "mediaUrl"):
        value = media.get(key)
        if isinstance(value, str) and value.startswith(("https://", "http://")):
            return value
    return None


def _title_fields(data: Mapping[str, Any], media_type: str) -> tuple[str, int | None]:
    if media_type == "tv":
        return str(data.get("name") or data.get("originalName") or ""), _year(data.get("firstAirDate"))
    return str(data.get("title") or data.get("originalTitle") or ""), _year(data.get("releaseDate"))


def parse_search_result(data: Mapping[str, Any]) -> SearchResult | None:
    media_type = data.get("mediaType")
    tmdb_id = _int(data.get("id"))
    if media_type not in ("movie", "tv") or tmdb_id is None:
        return None  # people and collections are not requestable
    info = _dict(data.get("mediaInfo"))
    title, year = _title_fields(data, media_type)
    return SearchResult(tmdb_id, media_type, title, year, str(data.get("overview") or ""), data.get("posterPath"),
                        media_status_name(info.get("status", 1)), _int(info.get("id")), plex_link(info))


def parse_request(data: Mapping[str, Any]) -> MediaRequest:
    media = _dict(data.get("media"))
    by, mod = _dict(data.get("requestedBy")), _dict(data.get("modifiedBy"))
    is4k = bool(data.get("is4k"))
    seasons = tuple(SeasonStatus(int(s["seasonNumber"]), request_status_name(s.get("status")))
                    for s in data.get("seasons") or []
                    if isinstance(s, dict) and _int(s.get("seasonNumber")) is not None)
    return MediaRequest(
        id=int(data["id"]), status=request_status_name(data.get("status")), status_code=_int(data.get("status")),
        media_type=str(data.get("type") or media.get("mediaType") or ""), tmdb_id=_int(media.get("tmdbId")),
        media_status=media_status_name(media.get("status4k" if is4k else "status", 1)), is4k=is4k, seasons=seasons,
        requested_by_id=_int(by.get("id")), requested_by_plex_id=_int(by.get("plexId")),
        modified_by_id=_int(mod.get("id")), created_at=data.get("createdAt"), updated_at=data.get("updatedAt"),
        plex_url=plex_link(media), rating_key=str(media["ratingKey"]) if media.get("ratingKey") else None,
        media_seasons=tuple(SeasonStatus(n, media_status_name(s.get("status4k" if is4k else "status", 1)))
                            for s in media.get("seasons") or [] if isinstance(s, dict)
                            and (n := _int(s.get("seasonNumber"))) is not None))


def parse_user(data: Mapping[str, Any]) -> OverseerrUser:
    return OverseerrUser(
        id=int(data["id"]),
        display_name=str(data.get("displayName") or data.get("username") or data.get("plexUsername")
                         or data.get("email") or ""),
        plex_id=_int(data.get("plexId")), plex_username=data.get("plexUsername"), email=data.get("email"),
        permissions=_int(data.get("permissions")) or 0, request_count=_int(data.get("requestCount")) or 0,
        movie_quota_limit=_int(data.get("movieQuotaLimit")), tv_quota_limit=_int(data.get("tvQuotaLimit")))


def _error_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict):
        return str(data.get("message") or data.get("error") or "")[:200]
    return ""


def _refused_key(status: int, response: httpx.Response) -> bool:
    """Overseerr's answer to an unauthenticated caller: 401 without any key (the OpenAPI
    validator), 403 from the permission middleware for a wrong one (§3.1, §3.15)."""
    if status == 401:
        return True
    try:
        data = response.json()
    except ValueError:
        return False
    return status == 403 and isinstance(data, dict) and "access this endpoint" in str(data.get("error") or "")


_NOT_FOUND_500 = ("Unable to retrieve movie", "Unable to retrieve series", "Unable to retrieve tv",
                  "status code 404")


# --------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverseerrStatus:
    version: str
    commit_tag: str | None


class OverseerrClient(BaseClient):
    service = "Overseerr"

    def __init__(self, base_url: str, *, api_key: str | None = None, **kwargs: Unpack[ClientOptions]) -> None:
        super().__init__(base_url, headers={"X-Api-Key": api_key} if api_key else None, **kwargs)

    async def status(self) -> OverseerrStatus:
        """``GET /api/v1/status`` (no auth needed)."""
        data = self._json(await self._request("GET", "/api/v1/status"), self.service)
        if not isinstance(data, dict) or "version" not in data:
            raise IntegrationUnavailable(self.service, "status without version")
        return OverseerrStatus(version=str(data["version"]), commit_tag=data.get("commitTag"))

    async def me(self) -> OverseerrUser:
        """``GET /api/v1/auth/me``: the user the API key acts as (the admin, user 1).

        Raises:
            ApiKeyRefused: the key is missing or wrong.
        """
        return parse_user(_dict(await self._get_json("/api/v1/auth/me")))

    # ---- transport -----------------------------------------------------------------

    async def _call(self, method: str, path: str, *, expected: tuple[int, ...] = (200,), as_user: int | None = None,
                    reject: Mapping[int, type[OverseerrRejected]] | None = None, not_found_500: bool = False,
                    **kwargs: Any) -> httpx.Response:
        """Like ``BaseClient._request`` but maps Overseerr's answers to typed errors.

        Raises:
            IntegrationUnavailable: transport errors, breaker open, 5xx (except below).
            OverseerrNotFound: 404, or (``not_found_500``) the 500 Overseerr gives for an unknown TMDB id.
            AlreadyRequested / RequestNotAllowed: per ``reject`` (e.g. 409, 403).
            IntegrationRejected: any other unexpected status.
        """
        headers = dict(self._headers)
        if as_user is not None:
            headers["X-Api-User"] = str(int(as_user))
        sent = False
        try:
            with self._breaker.calling():
                sent = True
                response = await self._send(method, f"{self.base_url}{path}", headers=headers, **kwargs)
                status = response.status_code
                if status in expected:
                    return response
                message = _error_message(response)
                if status >= 500:
                    if not_found_500 and any(m.lower() in message.lower() for m in _NOT_FOUND_500):
                        raise OverseerrNotFound(self.service, status, message)
                    raise IntegrationUnavailable(self.service, f"HTTP {status}", status_code=status)
                if as_user is None and _refused_key(status, response):
                    raise ApiKeyRefused(self.service, status, message)
                error = (reject or {}).get(status)
                if error is not None:
                    raise error(self.service, status, message)
                if status == 404:
                    raise OverseerrNotFound(self.service, status, message)
                raise IntegrationRejected(self.service, status, message)
        except pybreaker.CircuitBreakerError as exc:
            raise breaker_error(self.service, exc, sent=sent) from exc
        except httpx.TimeoutException as exc:
            raise IntegrationUnavailable(self.service, f"timeout: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise IntegrationUnavailable(self.service, f"{type(exc).__name__}: {exc}") from exc

    async def _get_json(self, path: str, **kwargs: Any) -> Any:
        return self._json(await self._call("GET", path, **kwargs), self.service)

    # ---- catalogue -----------------------------------------------------------------

    async def search(self, query: str, page: int = 1) -> SearchPage:
        """``GET /search``: movies and shows only (people/collections are dropped)."""
        data = _dict(await self._get_json(f"/api/v1/search?{search_query_string(query, page)}"))
        results = tuple(r for r in (parse_search_result(x) for x in data.get("results") or [] if isinstance(x, dict))
                        if r is not None)
        return SearchPage(_int(data.get("page")) or page, _int(data.get("totalPages")) or 1,
                          _int(data.get("totalResults")) or 0, results)

    async def movie(self, tmdb_id: int) -> MediaDetails:
        """``GET /movie/{tmdbId}``; unknown id → ``OverseerrNotFound``."""
        return self._details("movie", await self._get_json(f"/api/v1/movie/{int(tmdb_id)}", not_found_500=True))

    async def tv(self, tmdb_id: int) -> MediaDetails:
        """``GET /tv/{tmdbId}`` with per-season availability; unknown id → ``OverseerrNotFound``."""
        return self._details("tv", await self._get_json(f"/api/v1/tv/{int(tmdb_id)}", not_found_500=True))

    def _details(self, media_type: str, raw: Any) -> MediaDetails:
        data = _dict(raw)
        if _int(data.get("id")) is None:
            raise IntegrationUnavailable(self.service, f"{media_type} without id")
        info = _dict(data.get("mediaInfo"))
        title, year = _title_fields(data, media_type)
        seasons: tuple[SeasonStatus, ...] = ()
        if media_type == "tv":
            known = {_int(s.get("seasonNumber")): s.get("status") for s in info.get("seasons") or []
                     if isinstance(s, dict)}
            numbers = sorted({n for s in data.get("seasons") or [] if isinstance(s, dict)
                              and (n := _int(s.get("seasonNumber"))) is not None and n > 0} | {
                                 n for n in known if n is not None and n > 0})
            seasons = tuple(SeasonStatus(n, media_status_name(known.get(n, 1))) for n in numbers)
        raw_requests = [r for r in info.get("requests") or [] if isinstance(r, dict)]
        requests = tuple(i for r in raw_requests if (i := _int(r.get("id"))) is not None)
        requested = sorted({n for r in raw_requests if request_status_name(r.get("status")) != "declined"
                            and not r.get("is4k") for s in r.get("seasons") or [] if isinstance(s, dict)
                            and (n := _int(s.get("seasonNumber"))) is not None})
        return MediaDetails(int(data["id"]), media_type, title, year, str(data.get("overview") or ""),
                            data.get("posterPath"), media_status_name(info.get("status", 1)), _int(info.get("id")),
                            str(info["ratingKey"]) if info.get("ratingKey") else None, seasons, requests,
                            plex_url=plex_link(info), requested_seasons=tuple(requested))

    # ---- users ---------------------------------------------------------------------

    async def users(self) -> tuple[OverseerrUser, ...]:
        """Every user, paging through ``GET /user`` (id order)."""
        found: list[OverseerrUser] = []
        skip = 0
        while True:
            data = _dict(await self._get_json("/api/v1/user", params={"take": _PAGE, "skip": skip}))
            rows = [r for r in data.get("results") or [] if isinstance(r, dict)]
            found.extend(parse_user(r) for r in rows)
            skip += _PAGE
            total = _int(_dict(data.get("pageInfo")).get("results")) or 0
            if not rows or skip >= total:
                return tuple(found)

    async def user_by_plex_id(self, plex_id: int) -> OverseerrUser | None:
        """The Overseerr user linked to this plex.tv account id (Overseerr has no lookup, §3.11)."""
        return next((u for u in await self.users() if u.plex_id == int(plex_id)), None)

    async def import_from_plex(self, plex_ids: list[int] | tuple[int, ...] | None = None) -> tuple[OverseerrUser, ...]:
        """``POST /user/import-from-plex``: users created for these Plex friends (only new ones)."""
        body = {"plexIds": [str(int(i)) for i in plex_ids]} if plex_ids is not None else {}
        data = self._json(await self._call("POST", "/api/v1/user/import-from-plex", expected=(200, 201), json=body),
                          self.service)
        return tuple(parse_user(u) for u in data or [] if isinstance(u, dict))

    # ---- requests ------------------------------------------------------------------

    async def create_request(self, media_type: str, tmdb_id: int, seasons: list[int] | None = None, *,
                             as_user: int) -> MediaRequest:
        """``POST /request`` acting as Overseerr user ``as_user`` (so their approval rules apply).

        ``seasons`` (TV only) defaults to every season. Raises ``AlreadyRequested`` (409, or
        nothing left to request), ``RequestNotAllowed`` (403: permission, quota) and
        ``OverseerrNotFound`` (unknown TMDB id).
        """
        if media_type not in ("movie", "tv"):
            raise ValueError("media_type must be 'movie' or 'tv'")
        # is4k must be explicit, or Overseerr's duplicate check matches nothing (§3.15).
        body: dict[str, Any] = {"mediaType": media_type, "mediaId": int(tmdb_id), "is4k": False}
        if media_type == "tv":
            body["seasons"] = [int(n) for n in seasons] if seasons else "all"
        response = await self._call("POST", "/api/v1/request", expected=(201, 202), as_user=as_user, json=body,
                                    reject={409: AlreadyRequested, 403: RequestNotAllowed}, not_found_500=True)
        data = _dict(self._json(response, self.service))
        if response.status_code == 202 or "id" not in data:
            raise AlreadyRequested(self.service, response.status_code, str(data.get("message") or ""),
                                   user_message="Those seasons are already requested or available.")
        return parse_request(data)

    async def requests(self, page: int = 1, filter: str = "all", requested_by: int | None = None, *,
                       take: int = 20, sort: str = "added") -> RequestPage:
        """``GET /request`` newest first; ``filter`` is one of ``REQUEST_FILTERS``."""
        if filter not in REQUEST_FILTERS:
            raise ValueError(f"unknown filter {filter!r}")
        params: dict[str, Any] = {"take": take, "skip": (max(page, 1) - 1) * take, "filter": filter, "sort": sort}
        if requested_by is not None:
            params["requestedBy"] = int(requested_by)
        data = _dict(await self._get_json("/api/v1/request", params=params))
        info = _dict(data.get("pageInfo"))
        return RequestPage(_int(info.get("page")) or page, _int(info.get("pages")) or 0,
                           _int(info.get("results")) or 0,
                           tuple(parse_request(r) for r in data.get("results") or [] if isinstance(r, dict)))

    async def request(self, request_id: int) -> MediaRequest:
        """``GET /request/{id}``; unknown → ``OverseerrNotFound``."""
        return parse_request(_dict(await self._get_json(f"/api/v1/request/{int(request_id)}",
                                                        reject={403: RequestNotAllowed})))

    async def approve(self, request_id: int) -> MediaRequest:
        """``POST /request/{id}/approve`` (as the API-key admin)."""
        return await self._set_status(request_id, "approve")

    async def decline(self, request_id: int, reason: str | None = None) -> MediaRequest:
        """``POST /request/{id}/decline``. Overseerr's API has no field for a reason, so
        ``reason`` is only logged here; keep it on MediaNest's side if it must be shown."""
        if reason:
            logger.info("declining Overseerr request %s: %s", request_id, reason)
        return await self._set_status(request_id, "decline")

    async def _set_status(self, request_id: int, action: str) -> MediaRequest:
        response = await self._call("POST", f"/api/v1/request/{int(request_id)}/{action}",
                                    reject={403: RequestNotAllowed})
        data = self._json(response, self.service)
        return parse_request(_dict(data))


__all__ = [
    "MEDIA_STATUSES", "REQUEST_FILTERS", "REQUEST_STATUSES",
    "AlreadyRequested", "MediaDetails", "MediaRequest", "OverseerrClient", "OverseerrNotFound", "OverseerrStatus",
    "OverseerrUser", "RequestNotAllowed", "RequestPage", "SearchPage", "SearchResult", "SeasonStatus",
    "media_status_name", "plex_link", "request_status_name", "search_query_string",
]
