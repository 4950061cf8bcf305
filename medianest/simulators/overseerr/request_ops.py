"""Overseerr's search, title and request endpoints as operations on the simulator's state."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

from medianest.simulators.overseerr.model import (
    APPROVED,
    AUTO_APPROVE,
    AUTO_APPROVE_4K,
    AUTO_APPROVE_4K_MOVIE,
    AUTO_APPROVE_4K_TV,
    AUTO_APPROVE_MOVIE,
    AUTO_APPROVE_TV,
    COMPLETED,
    DECLINED,
    FAILED,
    M_AVAILABLE,
    M_PARTIAL,
    M_PENDING,
    M_PROCESSING,
    M_UNKNOWN,
    MANAGE_REQUESTS,
    MANAGE_USERS,
    NO_PERMISSION,
    PENDING,
    PROCESSING_DELAY_S,
    REQUEST,
    REQUEST_4K,
    REQUEST_4K_MOVIE,
    REQUEST_4K_TV,
    REQUEST_MOVIE,
    REQUEST_TV,
    REQUEST_VIEW,
    SEARCH_PAGE_SIZE,
    ApiError,
    _has,
    _msg,
    _validation,
)
from medianest.simulators.overseerr.state import OverseerrState


class RequestOps(OverseerrState):
    """Search, title details and requests: create, list, count, read, approve, decline, fail, delete."""

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
            self._since[req["id"]] = time.monotonic()
            for n in seasons:
                if not any(s["seasonNumber"] == n for s in media["seasons"]):
                    media["seasons"].append(self._season_row(n, M_PENDING))
            if auto:
                self._after_approve(req, explicit=False)
                self._notify("MEDIA_AUTO_APPROVED", req)
                if req["status"] == FAILED:
                    self._notify("MEDIA_FAILED", req)
            else:
                self._notify("MEDIA_PENDING", req)
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

    def _after_approve(self, req: dict[str, Any], *, explicit: bool) -> None:
        """What follows an approval. The answer still shows the media PENDING: the real servers
        save PROCESSING un-awaited after answering, and (without Radarr/Sonarr) not at all for a
        request auto-approved at creation (§3.13, §3.15)."""
        if self.arr_fail:
            self._set_status(req, FAILED)
        elif explicit:
            self._processing_due.append((req["id"], time.monotonic() + PROCESSING_DELAY_S))

    def _get(self, request_id: int) -> dict[str, Any]:
        self._settle()
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
            return self.request_json(req)  # Seerr's canRemove is in the list only (§3.13)

    def approve(self, request_id: int, by: int = 1) -> dict[str, Any]:
        """Approve: request APPROVED, media PROCESSING (or FAILED when ``arr_fail``)."""
        with self._lock:
            req = self._get(request_id)
            now = self._now()
            self._set_status(req, APPROVED, modifiedBy=by, updatedAt=now)
            for s in req["seasons"]:
                s.update(status=APPROVED, updatedAt=now)
            self._after_approve(req, explicit=True)
            if self.media[req["mediaId"]]["status4k" if req["is4k"] else "status"] != M_AVAILABLE:
                self._notify("MEDIA_APPROVED", req)
            if req["status"] == FAILED:
                self._notify("MEDIA_FAILED", req)
            return self.request_json(req)

    def decline(self, request_id: int, by: int = 1) -> dict[str, Any]:
        """Decline: request DECLINED; a movie's media goes back to UNKNOWN."""
        with self._lock:
            req = self._get(request_id)
            now = self._now()
            self._set_status(req, DECLINED, modifiedBy=by, updatedAt=now)
            for s in req["seasons"]:
                s.update(status=DECLINED, updatedAt=now)
            media = self.media[req["mediaId"]]
            key = "status4k" if req["is4k"] else "status"
            if req["type"] == "movie" and media[key] != M_AVAILABLE:
                media[key] = M_UNKNOWN
            if media[key] != M_AVAILABLE:
                self._notify("MEDIA_DECLINED", req)
            return self.request_json(req)

    def mark_failed(self, request_id: int) -> dict[str, Any]:
        """The *arr refused the request: FAILED."""
        with self._lock:
            req = self._get(request_id)
            self._set_status(req, FAILED, updatedAt=self._now())
            self._notify("MEDIA_FAILED", req)
            return self.request_json(req)

    def delete_request(self, acting: dict[str, Any], request_id: int) -> None:
        with self._lock:
            req = self._get(request_id)
            if (not _has(acting["permissions"], MANAGE_REQUESTS) and req["requestedBy"] != acting["id"]
                    and req["status"] != PENDING):
                raise _msg(401, "You do not have permission to delete this request.")
            del self.requests[request_id]
            self._since.pop(request_id, None)
            media = self.media[req["mediaId"]]
            key = "status4k" if req["is4k"] else "status"
            if media[key] != M_AVAILABLE and not any(r["mediaId"] == media["id"] for r in self.requests.values()):
                media[key] = M_UNKNOWN
