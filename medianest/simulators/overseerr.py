"""Simulator of the Overseerr API v1 (1.34) and of Seerr (3.x), in memory.

It follows ``shared/docs/integrations.md`` §3 (§3.14 is what it must do, §3.15 the observed
quirks it copies). The flavour is switchable at run time:

==========================  ===========================  ===================================
                            ``overseerr`` (1.34.0)        ``seerr`` (3.1.0)
==========================  ===========================  ===================================
request statuses            1 pending 2 approved          + 5 completed (set when the media
                            3 declined 4 failed           becomes available)
duplicate movie request     first request not DECLINED    … and not COMPLETED
``GET /request`` filters    all approved available …      + completed, deleted; ``mediaType``,
                                                          ``sortDirection``, ``serviceErrors``,
                                                          ``canRemove``
``/request/count``          —                             + ``completed``
==========================  ===========================  ===================================

Public API:
    ``OverseerrSim``: the state (users, catalogue, media, requests, faults) with a
        thread-safe Python API (``approve``, ``decline``, ``mark_available``, ``mark_failed``,
        ``set_flavour``, ``remove_user``, ``state``, ``reset``, ``set_faults``/``clear_faults``).
    ``create_overseerr_app(sim)``: the Starlette app (wrapped in ``FaultsMiddleware``).
    ``serve_overseerr_in_thread(host, port=0, **opts)``: uvicorn in a daemon thread; returns an
        ``OverseerrHandle`` with ``.sim``, ``.url`` and ``.stop()``.

Fixtures (``fixtures.py``): API key ``fixtures.OVERSEERR_API_KEY`` (acts as user 1);
users 1 alice (plexId 1001, ADMIN), 2 bob (1002, REQUEST), 3 carol (1003, REQUEST, movie
quota 1 per 7 days). The Plex library titles are AVAILABLE (Breaking Bad, The Office and
Sherlock PARTIALLY_AVAILABLE); the extra titles have no Media row.

Auth: no ``X-Api-Key`` → 401 ``{"message":"cookie 'connect.sid' required"}`` (§3.15); a
wrong key or an unknown ``X-Api-User`` → 403 ``{"status":403,"error":…}``.

Test hooks (JSON; errors are ``{"error": …}``):
    ``POST /__sim__/requests/{id}/approve|decline|available|fail``. ``available`` plays the
    Plex scan: media (and the requested seasons) AVAILABLE with a ``ratingKey``; in Seerr the
    request becomes COMPLETED. (It does not talk to the PMS simulator yet.)
    ``POST /__sim__/flavour`` ``{"flavour": "overseerr"|"seerr"}``,
    ``POST /__sim__/config`` ``{"arr_fail": true}`` (approved requests become FAILED),
    ``GET /__sim__/state``, ``POST /__sim__/reset``, ``GET|POST|DELETE /__sim__/faults``.

Choices where the docs are silent (UNVERIFIED): the clock is simulated (starts at
``FIXTURE_EPOCH`` and moves one second per change); an unknown TV id answers
``"Unable to retrieve series."``; search pages hold 20 results, no people or collections;
``userId`` of an unknown user answers 404 ``"User not found."``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from medianest.simulators import fixtures
from medianest.simulators.faults import FaultInjector, FaultsMiddleware
from medianest.simulators.threads import ServerThread, ThreadHandle
from medianest.simulators.plex import SimError, _advertised_host, _bind, _make_server

logger = logging.getLogger(__name__)

FLAVOURS = ("overseerr", "seerr")

# Request statuses (MediaRequestStatus) and media statuses (MediaStatus), §3.3.
PENDING, APPROVED, DECLINED, FAILED, COMPLETED = 1, 2, 3, 4, 5
M_UNKNOWN, M_PENDING, M_PROCESSING, M_PARTIAL, M_AVAILABLE = 1, 2, 3, 4, 5

# Permission bits, §3.3.
ADMIN, MANAGE_USERS, MANAGE_REQUESTS, REQUEST = 2, 8, 16, 32
AUTO_APPROVE, AUTO_APPROVE_MOVIE, AUTO_APPROVE_TV = 128, 256, 512
REQUEST_4K, REQUEST_VIEW, REQUEST_4K_MOVIE, REQUEST_4K_TV = 1024, 16384, 2048, 4096
AUTO_APPROVE_4K, AUTO_APPROVE_4K_MOVIE, AUTO_APPROVE_4K_TV = 32768, 65536, 131072
REQUEST_MOVIE, REQUEST_TV = 262144, 524288

#: Characters the OpenAPI validator refuses in a raw ``query`` value (§3.2).
RESERVED = frozenset(":/?#[]@!$'()*+,;=")
SEARCH_PAGE_SIZE = 20
NO_PERMISSION = {"status": 403, "error": "You do not have permission to access this endpoint"}


def _has(perms: int, *bits: int) -> bool:
    """Overseerr's ``hasPermission(..., {type: 'or'})``: ADMIN passes every check."""
    return bool(perms & ADMIN) or any(perms & b for b in bits)


class ApiError(Exception):
    """An API answer other than 2xx: ``body`` is sent as is."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


def _msg(status: int, message: str) -> ApiError:
    return ApiError(status, {"message": message})


def _validation(path: str, message: str) -> ApiError:
    return ApiError(400, {"message": f"request{path} {message}", "errors": [{"path": path, "message": message}]})


@dataclass
class _Title:
    media_type: str
    tmdb: int
    title: str
    year: int
    overview: str
    imdb: str | None
    tvdb: int | None
    seasons: int
    library_key: int | None  # Plex ratingKey when in the library
    library_seasons: int  # seasons present in Plex


class OverseerrSim:
    """In-memory Overseerr: users, TMDB catalogue, media rows and requests (thread-safe)."""

    def __init__(self, *, flavour: str = "overseerr", api_key: str = fixtures.OVERSEERR_API_KEY,
                 base_url: str = "", arr_fail: bool = False) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}")
        self.api_key = api_key
        self.base_url = base_url
        self.faults = FaultInjector("overseerr")
        self._lock = threading.RLock()
        self._initial = (flavour, arr_fail)
        self.catalogue: dict[tuple[str, int], _Title] = {}
        for i, m in enumerate(fixtures.MOVIES):
            self.catalogue[("movie", m.tmdb)] = _Title("movie", m.tmdb, m.title, m.year, m.summary, m.imdb, None, 0,
                                                       fixtures.MOVIE_RATING_KEY_START + i, 0)
        for j, s in enumerate(fixtures.SHOWS):
            n = fixtures.OVERSEERR_TMDB_SEASONS.get(s.tmdb, len(s.seasons))
            self.catalogue[("tv", s.tmdb)] = _Title("tv", s.tmdb, s.title, s.year, s.summary, s.imdb, s.tvdb, n,
                                                    fixtures.SHOW_RATING_KEY_START + j, len(s.seasons))
        for t in fixtures.OVERSEERR_EXTRA_TITLES:
            self.catalogue[(t.media_type, t.tmdb)] = _Title(t.media_type, t.tmdb, t.title, t.year, t.overview, None,
                                                            t.tvdb, t.seasons, None, 0)
        self.reset()

    # ---- state ---------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the fixtures: no requests, library media only, initial flavour."""
        with self._lock:
            self.flavour, self.arr_fail = self._initial
            self._clock = fixtures.FIXTURE_EPOCH
            self._ids = {"user": 1, "media": 1, "request": 1, "season": 1}
            self.users: dict[int, dict[str, Any]] = {}
            self.media: dict[int, dict[str, Any]] = {}
            self.requests: dict[int, dict[str, Any]] = {}
            self._next_rating_key = 9001
            accounts = {a.username: a for a in fixtures.ACCOUNTS}
            for u in fixtures.OVERSEERR_USERS:
                self._add_user(accounts[u.plex_username], u.permissions, user_id=u.id,
                               quotas=(u.movie_quota_limit, u.movie_quota_days, u.tv_quota_limit, u.tv_quota_days))
            self._ids["user"] = max(self.users) + 1
            for t in self.catalogue.values():
                if t.library_key is None:
                    continue
                media = self._new_media(t)
                media["ratingKey"] = str(t.library_key)
                if t.media_type == "movie":
                    media["status"] = M_AVAILABLE
                else:
                    for n in range(1, t.library_seasons + 1):
                        media["seasons"].append(self._season_row(n, M_AVAILABLE))
                    media["status"] = M_AVAILABLE if t.library_seasons >= t.seasons else M_PARTIAL
        self.faults.clear()

    def _now(self) -> str:
        self._clock += 1
        return datetime.fromtimestamp(self._clock, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def _next(self, kind: str) -> int:
        value = self._ids[kind]
        self._ids[kind] += 1
        return value

    def _add_user(self, account: Any, permissions: int, *, user_id: int | None = None,
                  quotas: tuple[int | None, ...] = (None, None, None, None)) -> dict[str, Any]:
        now = self._now()
        uid = user_id if user_id is not None else self._next("user")
        user = {"id": uid, "email": account.email, "plexUsername": account.username, "username": None,
                "plexId": account.id, "userType": 1, "permissions": permissions,
                "avatar": f"https://plex.tv/users/{account.uuid}/avatar", "createdAt": now, "updatedAt": now,
                "movieQuotaLimit": quotas[0], "movieQuotaDays": quotas[1],
                "tvQuotaLimit": quotas[2], "tvQuotaDays": quotas[3]}
        self.users[uid] = user
        return user

    def _season_row(self, number: int, status: int) -> dict[str, Any]:
        now = self._now()
        return {"id": self._next("season"), "seasonNumber": number, "status": status, "status4k": M_UNKNOWN,
                "createdAt": now, "updatedAt": now}

    def _new_media(self, t: _Title) -> dict[str, Any]:
        now = self._now()
        media = {"id": self._next("media"), "mediaType": t.media_type, "tmdbId": t.tmdb, "tvdbId": t.tvdb,
                 "imdbId": None, "status": M_UNKNOWN, "status4k": M_UNKNOWN, "seasons": [], "ratingKey": None,
                 "createdAt": now, "updatedAt": now}
        self.media[media["id"]] = media
        return media

    def _media_for(self, media_type: str, tmdb: int) -> dict[str, Any] | None:
        return next((m for m in self.media.values() if m["mediaType"] == media_type and m["tmdbId"] == tmdb), None)

    # ---- serialisation -------------------------------------------------------------

    def user_json(self, user: dict[str, Any], *, full: bool = True) -> dict[str, Any]:
        data = dict(user)
        data["displayName"] = user["username"] or user["plexUsername"] or user["email"]
        data["requestCount"] = sum(1 for r in self.requests.values() if r["requestedBy"] == user["id"])
        if not full:
            data.pop("email", None)
            data.pop("plexId", None)
        return data

    def media_json(self, media: dict[str, Any], *, with_requests: bool = False) -> dict[str, Any]:
        data = {k: (list(map(dict, v)) if k == "seasons" else v) for k, v in media.items()}
        if media["ratingKey"]:
            data["plexUrl"] = (f"https://app.plex.tv/desktop#!/server/{fixtures.OVERSEERR_PLEX_MACHINE_ID}"
                               f"/details?key=%2Flibrary%2Fmetadata%2F{media['ratingKey']}")
        if with_requests:
            data["requests"] = [self.request_json(r, with_media=False) for r in self.requests.values()
                                if r["mediaId"] == media["id"]]
            data["issues"] = []
        return data

    def request_json(self, req: dict[str, Any], *, with_media: bool = True, viewer: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
        data = {k: v for k, v in req.items() if k not in ("mediaId", "requestedBy", "modifiedBy", "seasons")}
        data.update(serverId=None, profileId=None, rootFolder=None, languageProfileId=None, tags=None,
                    isAutoRequest=False)
        data["seasons"] = [dict(s) for s in req["seasons"]]
        data["seasonCount"] = len(req["seasons"])
        data["requestedBy"] = self.user_json(self.users[req["requestedBy"]]) if req["requestedBy"] in self.users \
            else None
        data["modifiedBy"] = self.user_json(self.users[req["modifiedBy"]]) \
            if req["modifiedBy"] in self.users else None
        if with_media:
            data["media"] = self.media_json(self.media[req["mediaId"]])
        if viewer is not None and self.flavour == "seerr":
            data["canRemove"] = _has(viewer["permissions"], MANAGE_REQUESTS)
        return data

    def title_json(self, t: _Title, *, detail: bool = False) -> dict[str, Any]:
        media = self._media_for(t.media_type, t.tmdb)
        poster = f"/sim{t.media_type}{t.tmdb}.jpg"
        if t.media_type == "movie":
            data: dict[str, Any] = {"id": t.tmdb, "mediaType": "movie", "title": t.title, "originalTitle": t.title,
                                    "releaseDate": f"{t.year}-06-01", "video": False}
        else:
            data = {"id": t.tmdb, "mediaType": "tv", "name": t.title, "originalName": t.title,
                    "firstAirDate": f"{t.year}-01-20", "originCountry": ["US"]}
        data.update(posterPath=poster, backdropPath=f"/sim{t.media_type}{t.tmdb}-backdrop.jpg",
                    overview=t.overview, popularity=10.0, voteAverage=7.5, voteCount=1000, genreIds=[18],
                    originalLanguage="en", adult=False)
        if detail:
            data.pop("mediaType")
            data.pop("genreIds")
            data["genres"] = [{"id": 18, "name": "Drama"}]
            data["externalIds"] = {"imdbId": t.imdb, "tvdbId": t.tvdb}
            if t.media_type == "movie":
                data.update(imdbId=t.imdb, runtime=120, status="Released", tagline="", credits={"cast": [], "crew": []},
                            relatedVideos=[], watchProviders=[], keywords=[])
            else:
                data.update(lastAirDate=f"{t.year + t.seasons}-01-20", numberOfSeasons=t.seasons,
                            numberOfEpisodes=t.seasons * 8, networks=[], seasons=[
                                {"id": t.tmdb * 100 + n, "seasonNumber": n, "name": f"Season {n}", "episodeCount": 8,
                                 "airDate": f"{t.year + n - 1}-01-20", "posterPath": None, "overview": ""}
                                for n in range(1, t.seasons + 1)])
        if media is not None:
            data["mediaInfo"] = self.media_json(media, with_requests=detail)
        return data

    # ---- auth ----------------------------------------------------------------------

    def authenticate(self, headers: Any) -> dict[str, Any]:
        """The acting user for ``X-Api-Key`` (+ ``X-Api-User``)."""
        key = headers.get("x-api-key")
        if key is None:
            raise _msg(401, "cookie 'connect.sid' required")
        with self._lock:
            if key != self.api_key:
                raise ApiError(403, NO_PERMISSION)
            acting = headers.get("x-api-user")
            if acting is None:
                return self.users[1]
            try:
                user = self.users.get(int(acting))
            except ValueError:
                user = None
            if user is None:
                raise ApiError(403, NO_PERMISSION)
            return user

    # ---- API operations (called with the acting user) --------------------------------

    def search(self, query: str, page: int) -> dict[str, Any]:
        with self._lock:
            q = query.strip().lower()
            if q.startswith("tmdb:"):
                hits = [t for t in self.catalogue.values() if str(t.tmdb) == q[5:]]
            elif q.startswith("year:"):
                hits = [t for t in self.catalogue.values() if str(t.year) == q[5:]]
            else:
                hits = [t for t in self.catalogue.values() if q in t.title.lower()]
            total = len(hits)
            start = (page - 1) * SEARCH_PAGE_SIZE
            return {"page": page, "totalPages": max(1, math.ceil(total / SEARCH_PAGE_SIZE)), "totalResults": total,
                    "results": [self.title_json(t) for t in hits[start:start + SEARCH_PAGE_SIZE]]}

    def title_detail(self, media_type: str, tmdb: int) -> dict[str, Any]:
        with self._lock:
            t = self.catalogue.get((media_type, tmdb))
            if t is None:
                raise _msg(500, "Unable to retrieve movie." if media_type == "movie" else "Unable to retrieve series.")
            return self.title_json(t, detail=True)

    def create_request(self, acting: dict[str, Any], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        media_type, tmdb = body.get("mediaType"), body.get("mediaId")
        if media_type not in ("movie", "tv"):
            raise _validation(".body.mediaType", "should be equal to one of the allowed values: movie, tv")
        if not isinstance(tmdb, int) or isinstance(tmdb, bool):
            raise _validation(".body.mediaId", "should be number")
        is4k_raw = body.get("is4k")
        is4k = bool(is4k_raw)
        with self._lock:
            user = acting
            if body.get("userId") is not None:
                if not _has(acting["permissions"], MANAGE_USERS, MANAGE_REQUESTS):
                    raise _msg(403, "You do not have permission to modify the request user.")
                user = self.users.get(body["userId"])
                if user is None:
                    raise _msg(404, "User not found.")
            perms = user["permissions"]
            kind = "movie" if media_type == "movie" else "series"
            ok = (_has(perms, REQUEST_4K, REQUEST_4K_MOVIE if media_type == "movie" else REQUEST_4K_TV) if is4k
                  else _has(perms, REQUEST, REQUEST_MOVIE if media_type == "movie" else REQUEST_TV))
            if not ok:
                raise _msg(403, f"You do not have permission to make {'4K ' if is4k else ''}{kind} requests.")
            limit, used = self._quota(user, media_type)
            if limit is not None and used >= limit:
                raise _msg(403, "Movie Quota exceeded." if media_type == "movie" else "Series Quota exceeded.")
            t = self.catalogue.get((media_type, tmdb))
            if t is None:
                what = "movie" if media_type == "movie" else "TV show"
                raise _msg(500, f"[TMDB] Failed to fetch {what} details: Request failed with status code 404")
            media = self._media_for(media_type, tmdb) or self._new_media(t)
            existing = [r for r in self.requests.values() if r["mediaId"] == media["id"]]
            if media_type == "movie" and is4k_raw is not None:
                same = [r for r in existing if r["is4k"] == is4k]
                closed = {DECLINED, COMPLETED} if self.flavour == "seerr" else {DECLINED}
                if same and same[0]["status"] not in closed:
                    raise _msg(409, "Request for this media already exists.")
            seasons: list[int] = []
            if media_type == "tv":
                wanted = body.get("seasons")
                if wanted is None:
                    raise _msg(500, "Cannot read properties of undefined (reading 'filter')")
                seasons = list(range(1, t.seasons + 1)) if wanted == "all" else [int(n) for n in wanted]
                taken = {s["seasonNumber"] for r in existing if r["is4k"] == is4k and r["status"] != DECLINED
                         for s in r["seasons"]}
                taken |= {s["seasonNumber"] for s in media["seasons"]
                          if s["status4k" if is4k else "status"] != M_UNKNOWN}
                seasons = [n for n in seasons if n not in taken]
                if not seasons:
                    return 202, {"message": "No seasons available to request"}
                if limit is not None and len(seasons) > limit - used:
                    raise _msg(403, "Series Quota exceeded.")
            ap = acting["permissions"]
            auto = _has(ap, MANAGE_REQUESTS, AUTO_APPROVE,
                        AUTO_APPROVE_MOVIE if media_type == "movie" else AUTO_APPROVE_TV) if not is4k else \
                _has(ap, MANAGE_REQUESTS, AUTO_APPROVE_4K,
                     AUTO_APPROVE_4K_MOVIE if media_type == "movie" else AUTO_APPROVE_4K_TV)
            status_key = "status4k" if is4k else "status"
            if media[status_key] == M_UNKNOWN:
                media[status_key] = M_PENDING
            now = self._now()
            req = {"id": self._next("request"), "status": APPROVED if auto else PENDING, "type": media_type,
                   "is4k": is4k, "createdAt": now, "updatedAt": now, "mediaId": media["id"],
                   "requestedBy": user["id"], "modifiedBy": acting["id"] if auto else None,
                   "seasons": [{"id": self._next("season"), "seasonNumber": n, "status": APPROVED if auto else PENDING,
                                "createdAt": now, "updatedAt": now} for n in seasons]}
            self.requests[req["id"]] = req
            for n in seasons:
                if not any(s["seasonNumber"] == n for s in media["seasons"]):
                    media["seasons"].append(self._season_row(n, M_PENDING))
            if auto:
                self._after_approve(req)
            return 201, self.request_json(req)

    def _quota(self, user: dict[str, Any], media_type: str) -> tuple[int | None, int]:
        if _has(user["permissions"], MANAGE_USERS):
            return None, 0
        prefix = "movie" if media_type == "movie" else "tv"
        limit, days = user[f"{prefix}QuotaLimit"], user[f"{prefix}QuotaDays"] or 7
        if not limit:
            return None, 0
        since = self._clock - days * 86400
        mine = [r for r in self.requests.values() if r["requestedBy"] == user["id"] and r["type"] == media_type
                and r["status"] != DECLINED
                and datetime.strptime(r["createdAt"], "%Y-%m-%dT%H:%M:%S.000Z").replace(tzinfo=UTC).timestamp() > since]
        used = len(mine) if media_type == "movie" else sum(len(r["seasons"]) for r in mine)
        return limit, used

    def _after_approve(self, req: dict[str, Any]) -> None:
        media = self.media[req["mediaId"]]
        key = "status4k" if req["is4k"] else "status"
        if media[key] not in (M_AVAILABLE, M_PARTIAL):
            media[key] = M_PROCESSING
        for s in media["seasons"]:
            if s["seasonNumber"] in {x["seasonNumber"] for x in req["seasons"]} and s[key] != M_AVAILABLE:
                s[key] = M_PROCESSING
        media["updatedAt"] = self._now()
        if self.arr_fail:
            req["status"] = FAILED

    def _get(self, request_id: int) -> dict[str, Any]:
        req = self.requests.get(request_id)
        if req is None:
            raise _msg(404, "Request not found.")
        return req

    def list_requests(self, acting: dict[str, Any], params: Any) -> dict[str, Any]:
        seerr = self.flavour == "seerr"
        filters = {"all", "approved", "available", "pending", "processing", "unavailable", "failed"}
        if seerr:
            filters |= {"completed", "deleted"}
        flt = params.get("filter", "all")
        if flt not in filters:
            raise _validation(".query.filter", "should be equal to one of the allowed values: "
                              + ", ".join(sorted(filters)))
        sort = params.get("sort", "added")
        if sort not in ("added", "modified"):
            raise _validation(".query.sort", "should be equal to one of the allowed values: added, modified")
        try:
            take, skip = int(params.get("take", 10)), int(params.get("skip", 0))
            by = int(params["requestedBy"]) if params.get("requestedBy") else None
        except ValueError as exc:
            raise _validation(".query", "should be integer") from exc
        if take < 1 or skip < 0:
            raise _validation(".query.take", "should be >= 1")
        with self._lock:
            if not _has(acting["permissions"], MANAGE_REQUESTS, REQUEST_VIEW):
                if by is not None and by != acting["id"]:
                    raise ApiError(403, NO_PERMISSION)
                by = acting["id"]
            rows = [r for r in self.requests.values() if (by is None or r["requestedBy"] == by)
                    and self._matches(r, flt)]
            if seerr and params.get("mediaType", "all") in ("movie", "tv"):
                rows = [r for r in rows if r["type"] == params["mediaType"]]
            desc = not (seerr and params.get("sortDirection") == "asc")
            rows.sort(key=(lambda r: r["id"]) if sort == "added" else (lambda r: (r["updatedAt"], r["id"])),
                      reverse=desc)
            data: dict[str, Any] = {
                "pageInfo": {"pages": math.ceil(len(rows) / take), "pageSize": take, "results": len(rows),
                             "page": math.ceil(skip / take) + 1},
                "results": [self.request_json(r, viewer=acting) for r in rows[skip:skip + take]]}
            if seerr:
                data["serviceErrors"] = {"radarr": [], "sonarr": []}
            return data

    def _matches(self, r: dict[str, Any], flt: str) -> bool:
        media = self.media[r["mediaId"]]
        ms = media["status4k" if r["is4k"] else "status"]
        st = r["status"]
        if self.flavour == "seerr" and flt in ("available", "completed", "deleted"):
            return st == COMPLETED
        return {
            "pending": st == PENDING,
            "approved": st == APPROVED,
            "processing": st == APPROVED and ms in (M_UNKNOWN, M_PENDING, M_PROCESSING, M_PARTIAL),
            "available": st == APPROVED and ms == M_AVAILABLE,
            "unavailable": st in (PENDING, APPROVED) and ms != M_AVAILABLE,
            "failed": st == FAILED,
        }.get(flt, st in ((1, 2, 3, 4, 5) if self.flavour == "seerr" else (1, 2, 3, 4)))

    def request_count(self) -> dict[str, int]:
        with self._lock:
            rows = list(self.requests.values())

            def available(r: dict[str, Any]) -> bool:
                return self.media[r["mediaId"]]["status4k" if r["is4k"] else "status"] == M_AVAILABLE

            data = {"total": len(rows), "movie": sum(r["type"] == "movie" for r in rows),
                    "tv": sum(r["type"] == "tv" for r in rows),
                    "pending": sum(r["status"] == PENDING for r in rows),
                    "approved": sum(r["status"] == APPROVED for r in rows),
                    "declined": sum(r["status"] == DECLINED for r in rows),
                    "processing": sum(r["status"] == APPROVED and not available(r) for r in rows),
                    "available": sum(r["status"] == APPROVED and available(r) for r in rows)}
            if self.flavour == "seerr":
                data["completed"] = sum(r["status"] == COMPLETED for r in rows)
            return data

    def get_request(self, acting: dict[str, Any], request_id: int) -> dict[str, Any]:
        with self._lock:
            req = self._get(request_id)
            if req["requestedBy"] != acting["id"] and not _has(acting["permissions"], MANAGE_REQUESTS, REQUEST_VIEW):
                raise _msg(403, "You do not have permission to view this request.")
            return self.request_json(req, viewer=acting)

    def approve(self, request_id: int, by: int = 1) -> dict[str, Any]:
        """Approve: request APPROVED, media PROCESSING (or FAILED when ``arr_fail``)."""
        with self._lock:
            req = self._get(request_id)
            now = self._now()
            req.update(status=APPROVED, modifiedBy=by, updatedAt=now)
            for s in req["seasons"]:
                s.update(status=APPROVED, updatedAt=now)
            self._after_approve(req)
            return self.request_json(req)

    def decline(self, request_id: int, by: int = 1) -> dict[str, Any]:
        """Decline: request DECLINED; a movie's media goes back to UNKNOWN."""
        with self._lock:
            req = self._get(request_id)
            now = self._now()
            req.update(status=DECLINED, modifiedBy=by, updatedAt=now)
            for s in req["seasons"]:
                s.update(status=DECLINED, updatedAt=now)
            media = self.media[req["mediaId"]]
            key = "status4k" if req["is4k"] else "status"
            if req["type"] == "movie" and media[key] != M_AVAILABLE:
                media[key] = M_UNKNOWN
            return self.request_json(req)

    def mark_failed(self, request_id: int) -> dict[str, Any]:
        """The *arr refused the request: FAILED."""
        with self._lock:
            req = self._get(request_id)
            req.update(status=FAILED, updatedAt=self._now())
            return self.request_json(req)

    def mark_available(self, request_id: int) -> dict[str, Any]:
        """Play the Plex scan for this request's media (Seerr: the request becomes COMPLETED)."""
        with self._lock:
            req = self._get(request_id)
            media = self.media[req["mediaId"]]
            key = "status4k" if req["is4k"] else "status"
            if not media["ratingKey"]:
                media["ratingKey"] = str(self._next_rating_key)
                self._next_rating_key += 1
            if req["type"] == "tv":
                wanted = {s["seasonNumber"] for s in req["seasons"]}
                for s in media["seasons"]:
                    if s["seasonNumber"] in wanted:
                        s[key] = M_AVAILABLE
                total = self.catalogue[("tv", media["tmdbId"])].seasons
                have = sum(1 for s in media["seasons"] if s[key] == M_AVAILABLE)
                media[key] = M_AVAILABLE if have >= total else M_PARTIAL
            else:
                media[key] = M_AVAILABLE
            media["updatedAt"] = now = self._now()
            if self.flavour == "seerr" and req["status"] == APPROVED:
                req.update(status=COMPLETED, updatedAt=now)
            return self.request_json(req)

    def delete_request(self, acting: dict[str, Any], request_id: int) -> None:
        with self._lock:
            req = self._get(request_id)
            if (not _has(acting["permissions"], MANAGE_REQUESTS) and req["requestedBy"] != acting["id"]
                    and req["status"] != PENDING):
                raise _msg(401, "You do not have permission to delete this request.")
            del self.requests[request_id]
            media = self.media[req["mediaId"]]
            key = "status4k" if req["is4k"] else "status"
            if media[key] != M_AVAILABLE and not any(r["mediaId"] == media["id"] for r in self.requests.values()):
                media[key] = M_UNKNOWN

    def list_users(self, acting: dict[str, Any], params: Any) -> dict[str, Any]:
        try:
            take, skip = int(params.get("take", 10)), int(params.get("skip", 0))
        except ValueError as exc:
            raise _validation(".query", "should be integer") from exc
        with self._lock:
            full = _has(acting["permissions"], MANAGE_USERS)
            rows = [self.user_json(u, full=full) for u in self.users.values()]
            sort = params.get("sort")
            if sort == "displayname":
                rows.sort(key=lambda u: u["displayName"].lower())
            elif sort == "requests":
                rows.sort(key=lambda u: -u["requestCount"])
            elif sort == "updated":
                rows.sort(key=lambda u: u["updatedAt"], reverse=True)
            else:
                rows.sort(key=lambda u: u["id"])
            return {"pageInfo": {"pages": math.ceil(len(rows) / take), "pageSize": take, "results": len(rows),
                                 "page": math.ceil(skip / take) + 1},
                    "results": rows[skip:skip + take]}

    def get_user(self, acting: dict[str, Any], user_id: int) -> dict[str, Any]:
        with self._lock:
            user = self.users.get(user_id)
            if user is None:
                raise _msg(404, "User not found.")
            return self.user_json(user, full=_has(acting["permissions"], MANAGE_USERS))

    def import_from_plex(self, acting: dict[str, Any], plex_ids: list[str] | None) -> list[dict[str, Any]]:
        """Create users for Plex friends with access to the server (``fixtures.SHARES``)."""
        if not _has(acting["permissions"], MANAGE_USERS):
            raise ApiError(403, NO_PERMISSION)
        accounts = {a.username: a for a in fixtures.ACCOUNTS}
        friends = [accounts[name] for name in fixtures.SHARES]
        with self._lock:
            known = {u["plexId"] for u in self.users.values()}
            created = []
            for account in friends:
                if account.id in known or (plex_ids is not None and str(account.id) not in plex_ids):
                    continue
                created.append(self.user_json(self._add_user(account, REQUEST)))
            return created

    # ---- Python API for tests ------------------------------------------------------

    def set_flavour(self, flavour: str) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}")
        with self._lock:
            self.flavour = flavour

    def remove_user(self, user_id: int) -> None:
        """Forget a user (so import-from-plex can create it again); the owner stays."""
        if user_id == 1:
            raise ValueError("the owner cannot be removed")
        with self._lock:
            if self.users.pop(user_id, None) is None:
                raise SimError(404, f"no user {user_id}")

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"flavour": self.flavour, "arr_fail": self.arr_fail, "api_key": self.api_key,
                    "users": [self.user_json(u) for u in self.users.values()],
                    "media": [self.media_json(m) for m in self.media.values()],
                    "requests": [self.request_json(r) for r in self.requests.values()],
                    "faults": self.faults.snapshot()}

    def set_faults(self, **kwargs: Any) -> None:
        self.faults.set(**kwargs)

    def clear_faults(self) -> None:
        self.faults.clear()


# --------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------

Handler = Callable[[Request], Awaitable[Response]]


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise _validation(".body", "is not valid JSON") from exc
    if not isinstance(data, dict):
        raise _validation(".body", "should be object")
    return data


def _raw_query_value(request: Request, name: str) -> str | None:
    """The undecoded value of ``name`` in the query string, as the validator sees it."""
    for part in request.scope.get("query_string", b"").decode("latin-1").split("&"):
        key, sep, value = part.partition("=")
        if sep and unquote(key) == name:
            return value
    return None


def create_overseerr_app(sim: OverseerrSim) -> Any:
    """The simulator's ASGI app: API routes under ``/api/v1``, hooks under ``/__sim__``."""

    def api(handler: Callable[[Request, dict[str, Any] | None], Awaitable[Response]], *, auth: bool = True
            ) -> Handler:
        async def wrapped(request: Request) -> Response:
            try:
                acting = sim.authenticate(request.headers) if auth else None
                return await handler(request, acting)
            except ApiError as exc:
                return JSONResponse(exc.body, status_code=exc.status)
        return wrapped

    def hook(handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return JSONResponse({"error": exc.body.get("message", "error")}, status_code=exc.status)
            except SimError as exc:
                return JSONResponse({"error": str(exc)}, status_code=exc.status)
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return wrapped

    async def status(_: Request, __: Any) -> Response:
        return JSONResponse({"version": fixtures.OVERSEERR_VERSIONS[sim.flavour],
                             "commitTag": fixtures.OVERSEERR_COMMIT_TAGS[sim.flavour], "updateAvailable": False,
                             "commitsBehind": 0, "restartRequired": False})

    async def search(request: Request, _: Any) -> Response:
        raw = _raw_query_value(request, "query")
        if raw is None:
            raise _validation(".query.query", "should have required property 'query'")
        if any(c in RESERVED for c in raw):
            raise ApiError(400, {"message": "Parameter 'query' must be url encoded. Its value may not contain "
                                            "reserved characters.",
                                 "errors": [{"path": ".query.query", "message": "Parameter 'query' must be url "
                                             "encoded. Its value may not contain reserved characters."}]})
        try:
            page = int(request.query_params.get("page", "1"))
        except ValueError as exc:
            raise _validation(".query.page", "should be number") from exc
        return JSONResponse(sim.search(unquote(raw), max(page, 1)))

    async def movie(request: Request, _: Any) -> Response:
        return JSONResponse(sim.title_detail("movie", request.path_params["tmdb_id"]))

    async def tv(request: Request, _: Any) -> Response:
        return JSONResponse(sim.title_detail("tv", request.path_params["tmdb_id"]))

    async def requests_(request: Request, acting: Any) -> Response:
        if request.method == "POST":
            status_code, data = sim.create_request(acting, await _body(request))
            return JSONResponse(data, status_code=status_code)
        return JSONResponse(sim.list_requests(acting, request.query_params))

    async def request_count(_: Request, __: Any) -> Response:
        return JSONResponse(sim.request_count())

    async def one_request(request: Request, acting: Any) -> Response:
        rid = request.path_params["request_id"]
        if request.method == "DELETE":
            sim.delete_request(acting, rid)
            return Response(status_code=204)
        return JSONResponse(sim.get_request(acting, rid))

    async def request_action(request: Request, acting: Any) -> Response:
        action = request.path_params["action"]
        if action not in ("approve", "decline"):
            raise _validation(".params.status", "should be equal to one of the allowed values: approve, decline")
        if not _has(acting["permissions"], MANAGE_REQUESTS):
            raise ApiError(403, NO_PERMISSION)
        rid = request.path_params["request_id"]
        result = sim.approve(rid, acting["id"]) if action == "approve" else sim.decline(rid, acting["id"])
        return JSONResponse(result)

    async def users(request: Request, acting: Any) -> Response:
        return JSONResponse(sim.list_users(acting, request.query_params))

    async def user(request: Request, acting: Any) -> Response:
        return JSONResponse(sim.get_user(acting, request.path_params["user_id"]))

    async def import_users(request: Request, acting: Any) -> Response:
        body = await _body(request)
        ids = body.get("plexIds")
        if ids is not None and not isinstance(ids, list):
            raise _validation(".body.plexIds", "should be array")
        created = sim.import_from_plex(acting, [str(i) for i in ids] if ids is not None else None)
        return JSONResponse(created, status_code=201)

    # ---- hooks ---------------------------------------------------------------------

    async def hook_request(request: Request) -> Response:
        rid, action = request.path_params["request_id"], request.path_params["action"]
        ops = {"approve": sim.approve, "decline": sim.decline, "available": sim.mark_available,
               "fail": sim.mark_failed}
        if action not in ops:
            raise SimError(404, f"unknown action {action!r}")
        return JSONResponse(ops[action](rid))

    async def hook_flavour(request: Request) -> Response:
        data = await _body(request)
        sim.set_flavour(str(data.get("flavour", "")))
        return JSONResponse({"flavour": sim.flavour})

    async def hook_config(request: Request) -> Response:
        data = await _body(request)
        unknown = set(data) - {"arr_fail"}
        if unknown:
            raise SimError(400, f"unknown keys: {sorted(unknown)}")
        with sim._lock:
            sim.arr_fail = bool(data.get("arr_fail", sim.arr_fail))
        return JSONResponse({"arr_fail": sim.arr_fail})

    async def hook_state(_: Request) -> Response:
        return JSONResponse(sim.state())

    async def hook_reset(_: Request) -> Response:
        sim.reset()
        return JSONResponse({"reset": True})

    routes = [
        Route("/api/v1/status", api(status, auth=False), methods=["GET"]),
        Route("/api/v1/search", api(search), methods=["GET"]),
        Route("/api/v1/movie/{tmdb_id:int}", api(movie), methods=["GET"]),
        Route("/api/v1/tv/{tmdb_id:int}", api(tv), methods=["GET"]),
        Route("/api/v1/request", api(requests_), methods=["GET", "POST"]),
        Route("/api/v1/request/count", api(request_count), methods=["GET"]),
        Route("/api/v1/request/{request_id:int}", api(one_request), methods=["GET", "DELETE"]),
        Route("/api/v1/request/{request_id:int}/{action}", api(request_action), methods=["POST"]),
        Route("/api/v1/user", api(users), methods=["GET"]),
        Route("/api/v1/user/import-from-plex", api(import_users), methods=["POST"]),
        Route("/api/v1/user/{user_id:int}", api(user), methods=["GET"]),
        Route("/__sim__/requests/{request_id:int}/{action}", hook(hook_request), methods=["POST"]),
        Route("/__sim__/flavour", hook(hook_flavour), methods=["POST"]),
        Route("/__sim__/config", hook(hook_config), methods=["POST"]),
        Route("/__sim__/state", hook_state, methods=["GET"]),
        Route("/__sim__/reset", hook_reset, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(FaultsMiddleware, injector=sim.faults)])


# --------------------------------------------------------------------------------------
# Serving
# --------------------------------------------------------------------------------------


@dataclass
class OverseerrHandle(ThreadHandle):
    """A running Overseerr simulator (see ``serve_overseerr_in_thread``)."""

    sim: OverseerrSim
    url: str
    _runner: ServerThread

    def _before_stop(self) -> None:
        self.sim.clear_faults()  # an "outage" would otherwise keep requests (and the thread) hanging


def serve_overseerr_in_thread(host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning",
                              advertise_host: str | None = None, **sim_options: Any) -> OverseerrHandle:
    """Serve the simulator with uvicorn in a daemon thread.

    Args:
        host: Interface to bind.
        port: Port (0 picks a free one).
        log_level: uvicorn's log level.
        advertise_host: Host name to put in the URL (defaults to ``host``).
        **sim_options: ``OverseerrSim`` keywords (``flavour``, ``api_key``, ``arr_fail``).

    Returns:
        A handle with ``.sim``, ``.url`` and ``.stop()``.

    Raises:
        RuntimeError: If the server does not start within 10 seconds.
    """
    sock = _bind(host, port)
    url = f"http://{advertise_host or _advertised_host(host)}:{sock.getsockname()[1]}"
    try:
        sim = OverseerrSim(base_url=url, **sim_options)
    except Exception:
        sock.close()
        raise
    server = _make_server(create_overseerr_app(sim), log_level)

    def request_exit() -> None:
        server.should_exit = True

    runner = ServerThread("overseerr-simulator", lambda: server.serve(sockets=[sock]),
                          started=lambda: server.started, request_exit=request_exit)
    logger.info("Overseerr simulator on %s", url)
    return OverseerrHandle(sim, url, runner)


__all__ = [
    "APPROVED", "COMPLETED", "DECLINED", "FAILED", "FLAVOURS", "PENDING",
    "OverseerrHandle", "OverseerrSim", "create_overseerr_app", "serve_overseerr_in_thread",
]
