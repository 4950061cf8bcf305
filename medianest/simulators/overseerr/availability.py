"""What a Plex scan finding media does in the Overseerr simulator: media and seasons AVAILABLE,
the title put into the attached PMS simulator, requests completed (Seerr) and notified; and the
auto-progress that approves and completes requests on a timer."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from medianest.simulators.overseerr.model import (
    APPROVED,
    COMPLETED,
    DECLINED,
    M_AVAILABLE,
    M_PARTIAL,
    M_UNKNOWN,
    PENDING,
    _Title,
)
from medianest.simulators.overseerr.request_ops import RequestOps
from medianest.simulators.plex import SimError

logger = logging.getLogger(__name__)


class AvailabilityOps(RequestOps):
    """``mark_available``, ``mark_media_available`` and the auto-progress tick."""

    def _auto_progress(self) -> None:
        """Approve PENDING and complete APPROVED requests whose time has come."""
        now = time.monotonic()
        with self._lock:
            self._settle()
            approve_after, available_after = self.auto_approve_after_s, self.available_after_s
            for rid in sorted(self.requests):
                req = self.requests.get(rid)
                if req is None:
                    continue
                waited = now - self._since.get(rid, now)
                if approve_after is not None and req["status"] == PENDING and waited >= approve_after:
                    logger.info("auto-approving request %s after %.1f s", rid, waited)
                    self.approve(rid)
                elif (available_after is not None and req["status"] == APPROVED and waited >= available_after
                      and not self._fulfilled(req)):
                    logger.info("request %s becomes available after %.1f s", rid, waited)
                    self.mark_available(rid)

    def _fulfilled(self, req: dict[str, Any]) -> bool:
        """Whether everything ``req`` asked for is AVAILABLE."""
        media = self.media[req["mediaId"]]
        key = "status4k" if req["is4k"] else "status"
        if req["type"] == "movie":
            return media[key] == M_AVAILABLE
        available = {s["seasonNumber"] for s in media["seasons"] if s[key] == M_AVAILABLE}
        return all(s["seasonNumber"] in available for s in req["seasons"])

    def mark_available(self, request_id: int) -> dict[str, Any]:
        """Play the Plex scan for this request's media (Seerr: the request becomes COMPLETED).

        With a ``PlexSim`` attached the title (the requested seasons of a show) is added to
        the PMS simulator and the media's ``ratingKey`` is the PMS item's.

        Raises:
            ApiError: 404 for an unknown request.
        """
        with self._lock:
            req = self._get(request_id)
            media = self.media[req["mediaId"]]
            seasons = [s["seasonNumber"] for s in req["seasons"]] if req["type"] == "tv" else None
            self._make_available(media, seasons, is4k=req["is4k"])
            return self.request_json(req)

    def mark_media_available(self, media_type: str, tmdb: int) -> dict[str, Any]:
        """Play the Plex scan finding a title.

        Every APPROVED request for it becomes available (as ``mark_available``); when there is
        none, the media itself does (a show with every TMDB season), created if Overseerr had no
        Media row for the title yet.

        Returns:
            ``{"media": <media JSON>, "requests": [<request JSON> for the approved requests]}``.

        Raises:
            SimError: 404 for an unknown media type or title.
        """
        if media_type not in ("movie", "tv"):
            raise SimError(404, f"unknown media type {media_type!r}")
        with self._lock:
            self._settle()
            t = self.catalogue.get((media_type, tmdb))
            if t is None:
                raise SimError(404, f"no {media_type} with TMDB id {tmdb} in the catalogue")
            media = self._media_for(media_type, tmdb)
            approved = [] if media is None else [
                r for _, r in sorted(self.requests.items()) if r["mediaId"] == media["id"] and r["status"] == APPROVED]
            for req in approved:
                self.mark_available(req["id"])
            if not approved:
                media = media or self._new_media(t)
                self._make_available(media, None, is4k=False)
            assert media is not None
            return {"media": self.media_json(media), "requests": [self.request_json(r) for r in approved]}

    def _make_available(self, media: dict[str, Any], seasons: Iterable[int] | None, *, is4k: bool) -> None:
        """Media (``seasons`` of a show, all of them for ``None``) AVAILABLE, plus what follows.

        Puts the title into the PMS simulator, completes fulfilled requests (Seerr) and sends
        the MEDIA_AVAILABLE notifications Overseerr's ``MediaSubscriber`` would send.
        """
        t = self._title_of(media)
        key = "status4k" if is4k else "status"
        was_available = media[key] == M_AVAILABLE
        before = {s["seasonNumber"] for s in media["seasons"] if s[key] == M_AVAILABLE}
        wanted = sorted(set(seasons)) if seasons is not None else list(range(1, t.seasons + 1))
        if self.plex is not None:
            media["ratingKey"] = self._put_in_plex(t, wanted)
        elif not media["ratingKey"]:
            media["ratingKey"] = str(self._next_rating_key)
            self._next_rating_key += 1
        now = self._now()
        if t.media_type == "tv":
            for number in wanted:
                row = next((s for s in media["seasons"] if s["seasonNumber"] == number), None)
                if row is None:
                    row = self._season_row(number, M_UNKNOWN)
                    media["seasons"].append(row)
                row.update({key: M_AVAILABLE, "updatedAt": now})
            media["seasons"].sort(key=lambda s: s["seasonNumber"])
            have = sum(1 for s in media["seasons"] if s[key] == M_AVAILABLE)
            media[key] = M_AVAILABLE if have >= t.seasons else M_PARTIAL
        else:
            media[key] = M_AVAILABLE
        media["updatedAt"] = now
        related = [r for _, r in sorted(self.requests.items()) if r["mediaId"] == media["id"] and r["is4k"] == is4k]
        if self.flavour == "seerr":
            for req in related:
                if req["status"] == APPROVED and self._fulfilled(req):
                    self._set_status(req, COMPLETED, updatedAt=now)
        live = [r for r in related if r["status"] != DECLINED]
        if t.media_type == "movie":
            if not was_available:
                for req in live:
                    self._notify("MEDIA_AVAILABLE", req)
            return
        after = {s["seasonNumber"] for s in media["seasons"] if s[key] == M_AVAILABLE}
        done: set[int] = set()
        for number in sorted(after - before):
            if number in done:
                continue
            req = next((r for r in live if r["seasons"] and all(s["seasonNumber"] in after for s in r["seasons"])
                        and any(s["seasonNumber"] == number for s in r["seasons"])), None)
            if req is not None:
                done |= {s["seasonNumber"] for s in req["seasons"]}
                self._notify("MEDIA_AVAILABLE", req)

    def _put_in_plex(self, t: _Title, seasons: list[int]) -> str:
        """Add ``t`` to the attached PMS simulator (reusing an item with its ``tmdb://`` guid)."""
        plex = self.plex
        assert plex is not None
        guids = [g for g in (f"imdb://{t.imdb}" if t.imdb else "", f"tmdb://{t.tmdb}",
                             f"tvdb://{t.tvdb}" if t.tvdb and t.media_type == "tv" else "") if g]
        if t.media_type == "tv":
            return str(plex.add_show(t.title, t.year, seasons=seasons, guids=guids, summary=t.overview).rating_key)
        item = plex.item_by_guid(f"tmdb://{t.tmdb}", item_type="movie")
        if item is None:
            locations = plex.section(1).locations
            name = f"{t.title.replace(':', '')} ({t.year})"
            item = plex.add_movie(t.title, t.year, guids=guids, summary=t.overview, duration_ms=120 * 60_000,
                                  file=f"{locations[0]}/{name}/{name}.mkv" if locations else None)
        return str(item.rating_key)
