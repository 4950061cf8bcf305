"""The Overseerr simulator's state: users, TMDB catalogue, media rows and requests, their JSON
shapes, settings, authentication and the background work (auto-progress, webhooks).

``OverseerrState`` is the base of ``OverseerrSim``; the operations live in ``request_ops``,
``availability`` and ``user_ops``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from medianest.simulators import fixtures
from medianest.simulators.faults import FaultInjector
from medianest.simulators.overseerr.model import (
    _JOIN_TIMEOUT_S,
    APPROVED,
    AUTO_PROGRESS_TICK_S,
    CONFIG_KEYS,
    FLAVOURS,
    M_AVAILABLE,
    M_PARTIAL,
    M_PROCESSING,
    M_UNKNOWN,
    MANAGE_REQUESTS,
    NO_PERMISSION,
    TMDB_IMAGE_PATH,
    TMDB_IMAGE_URL,
    WEBHOOK_TIMEOUT_S,
    ApiError,
    _check_config,
    _has,
    _msg,
    _Title,
    _tmdb_image_path,
)
from medianest.simulators.overseerr.webhooks import _WebhookSender, webhook_payload
from medianest.simulators.plex import PlexSim

logger = logging.getLogger(__name__)


class _Ticker:
    """Calls ``tick()`` every ``interval`` seconds on a daemon thread until ``stop()``."""

    def __init__(self, name: str, interval: float, tick: Callable[[], None]) -> None:
        self._interval = interval
        self._tick = tick
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._tick()
            except Exception:  # one bad tick must not end the auto-progress
                logger.exception("%s tick failed", self._thread.name)

    def stop(self) -> None:
        """Stop and wait for the thread (never call while holding a lock ``tick()`` takes)."""
        self._stopped.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(_JOIN_TIMEOUT_S)


class OverseerrState:
    """The state of ``OverseerrSim`` and what every operation on it shares (thread-safe)."""

    #: Approves PENDING and completes APPROVED requests whose time has come; the auto-progress
    #: ticker calls it (defined by ``availability.AvailabilityOps``, part of every ``OverseerrSim``).
    _auto_progress: Callable[[], None]

    def __init__(self, *, flavour: str = "overseerr", api_key: str = fixtures.OVERSEERR_API_KEY,
                 base_url: str = "", arr_fail: bool = False, plex: PlexSim | None = None,
                 auto_approve_after_s: float | None = None, available_after_s: float | None = None,
                 webhook_url: str | None = None, webhook_authorization: str | None = None) -> None:
        """Create the state from the fixtures.

        Args:
            flavour: ``"overseerr"`` or ``"seerr"``.
            api_key: The key clients send as ``X-Api-Key``.
            base_url: Where the simulator is served (used for webhook image URLs).
            arr_fail: Approved requests become FAILED (Radarr/Sonarr refused them).
            plex: The PMS simulator that simulated scans add titles to (``None``: no PMS).
            auto_approve_after_s: Approve PENDING requests after this many seconds (``None``: never).
            available_after_s: Make APPROVED requests available after this many seconds
                (``None``: never).
            webhook_url: Where the webhook agent posts (``None``: agent off).
            webhook_authorization: ``Authorization`` header value of the webhook posts.

        Raises:
            ValueError: Unknown flavour or unusable setting.
        """
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}")
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.plex = plex
        self.faults = FaultInjector("overseerr")
        self._lock = threading.RLock()
        self._initial_flavour = flavour
        self._initial_config = {key: _check_config(key, value) for key, value in (
            ("arr_fail", arr_fail), ("auto_approve_after_s", auto_approve_after_s),
            ("available_after_s", available_after_s), ("webhook_url", webhook_url),
            ("webhook_authorization", webhook_authorization))}
        self._webhooks = _WebhookSender(WEBHOOK_TIMEOUT_S)
        self._ticker: _Ticker | None = None
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
        """Back to the fixtures: no requests, library media only, the constructor's settings.

        Stops the auto-progress thread (restarted when the constructor turned it on) and drops
        the webhook log and queued deliveries. The attached ``PlexSim`` is left alone.
        """
        self._stop_ticker()
        with self._lock:
            self.flavour = self._initial_flavour
            self.arr_fail: bool = self._initial_config["arr_fail"]
            self.auto_approve_after_s: float | None = self._initial_config["auto_approve_after_s"]
            self.available_after_s: float | None = self._initial_config["available_after_s"]
            self.webhook_url: str | None = self._initial_config["webhook_url"]
            self.webhook_authorization: str | None = self._initial_config["webhook_authorization"]
            self._webhooks.clear()
            self._since: dict[int, float] = {}  # request id -> monotonic time it got its status
            #: (request id, monotonic due time): media to move to PROCESSING once an approval settles
            self._processing_due: list[tuple[int, float]] = []
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
        self._sync_ticker()

    def close(self) -> None:
        """Stop the background threads (auto-progress, webhook sender); the state stays usable."""
        self._stop_ticker()
        self._webhooks.close()

    def _now(self) -> str:
        self._clock += 1
        return datetime.fromtimestamp(self._clock, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def _next(self, kind: str) -> int:
        value = self._ids[kind]
        self._ids[kind] += 1
        return value

    def _set_status(self, req: dict[str, Any], status: int, **changes: Any) -> None:
        """Change a request's status and remember when (auto-progress measures from it)."""
        req.update(status=status, **changes)
        self._since[req["id"]] = time.monotonic()

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

    def _title_of(self, media: dict[str, Any]) -> _Title:
        return self.catalogue[(media["mediaType"], media["tmdbId"])]

    # ---- configuration -------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The current settings (``CONFIG_KEYS``)."""
        with self._lock:
            return {key: getattr(self, key) for key in CONFIG_KEYS}

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change some settings (``CONFIG_KEYS``); starts or stops the auto-progress thread.

        Returns:
            The whole configuration after the change.

        Raises:
            ValueError: Unknown key or unusable value (nothing is changed then).
        """
        checked = {key: _check_config(key, value) for key, value in changes.items()}
        with self._lock:
            for key, value in checked.items():
                setattr(self, key, value)
        self._sync_ticker()
        logger.info("Overseerr simulator settings: %s", checked)
        return self.config()

    def _sync_ticker(self) -> None:
        """Run the auto-progress thread exactly when some auto-progress is on."""
        with self._lock:
            wanted = self.auto_approve_after_s is not None or self.available_after_s is not None
            if wanted and self._ticker is None:
                self._ticker = _Ticker("overseerr-auto-progress", AUTO_PROGRESS_TICK_S, self._auto_progress)
                return
        if not wanted:
            self._stop_ticker()

    def _stop_ticker(self) -> None:
        with self._lock:
            ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.stop()  # outside the lock: the tick takes it

    # ---- serialisation -------------------------------------------------------------

    def _machine_id(self) -> str:
        return self.plex.household.machine_id if self.plex is not None else fixtures.OVERSEERR_PLEX_MACHINE_ID

    def _tmdb_image_base(self) -> str:
        return f"{self.base_url}{TMDB_IMAGE_PATH}" if self.base_url else TMDB_IMAGE_URL

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
        if self.flavour == "seerr":
            data["plexUrl"] = None  # Seerr keeps the column's name but fills mediaUrl (§3.13)
        if media["ratingKey"]:
            key = quote(f"/library/metadata/{media['ratingKey']}", safe="")
            machine = self._machine_id()
            data["mediaUrl" if self.flavour == "seerr" else "plexUrl"] = \
                f"https://app.plex.tv/desktop#!/server/{machine}/details?key={key}"
            data["iOSPlexUrl"] = f"plex://preplay/?metadataKey={key}&server={machine}"
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
        if t.media_type == "movie":
            data: dict[str, Any] = {"id": t.tmdb, "mediaType": "movie", "title": t.title, "originalTitle": t.title,
                                    "releaseDate": f"{t.year}-06-01", "video": False}
        else:
            data = {"id": t.tmdb, "mediaType": "tv", "name": t.title, "originalName": t.title,
                    "firstAirDate": f"{t.year}-01-20", "originCountry": ["US"]}
        data.update(posterPath=t.poster_path, backdropPath=t.backdrop_path,
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
                                 "airDate": f"{t.year + n - 1}-01-20",
                                 "posterPath": _tmdb_image_path("season", t.tmdb, n), "overview": ""}
                                for n in range(1, t.seasons + 1)])
        if media is not None:
            data["mediaInfo"] = self.media_json(media, with_requests=detail)
        return data

    # ---- webhook agent -------------------------------------------------------------

    def _notify(self, kind: str, req: dict[str, Any]) -> None:
        """Queue Overseerr's default webhook payload for ``kind`` about ``req`` (caller holds the lock)."""
        url = self.webhook_url
        if not url:
            return
        media = self.media[req["mediaId"]]
        user = self.users.get(req["requestedBy"])
        payload = webhook_payload(kind, req, media, self._title_of(media), user,
                                  self.user_json(user)["displayName"] if user else "", self._tmdb_image_base())
        self._webhooks.submit(url, self.webhook_authorization, payload)

    def flush_webhooks(self, timeout: float = WEBHOOK_TIMEOUT_S + 1) -> bool:
        """Wait until every queued webhook has been posted (or failed); ``False`` on timeout."""
        return self._webhooks.flush(timeout)

    # ---- auth ----------------------------------------------------------------------

    def authenticate(self, headers: Any) -> dict[str, Any]:
        """The acting user for ``X-Api-Key`` (+ ``X-Api-User``)."""
        key = headers.get("x-api-key")
        if key is None:
            raise _msg(401, "cookie 'connect.sid' required")
        with self._lock:
            self._settle()
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

    def _settle(self) -> None:
        """Apply the PENDING → PROCESSING moves that are due (caller holds the lock)."""
        if not self._processing_due:
            return
        now = time.monotonic()
        due = [rid for rid, at in self._processing_due if at <= now]
        self._processing_due = [(rid, at) for rid, at in self._processing_due if at > now]
        for rid in due:
            req = self.requests.get(rid)
            if req is None or req["status"] != APPROVED:
                continue
            media = self.media[req["mediaId"]]
            key = "status4k" if req["is4k"] else "status"
            if media[key] not in (M_AVAILABLE, M_PARTIAL):
                media[key] = M_PROCESSING
            asked = {x["seasonNumber"] for x in req["seasons"]}
            for s in media["seasons"]:
                if s["seasonNumber"] in asked and s[key] != M_AVAILABLE:
                    s[key] = M_PROCESSING
            media["updatedAt"] = self._now()

    # ---- Python API for tests ------------------------------------------------------

    def set_flavour(self, flavour: str) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}")
        with self._lock:
            self.flavour = flavour

    def state(self) -> dict[str, Any]:
        """Everything a test may want to check, as JSON-ready data.

        ``webhooks`` holds ``url``, ``pending`` (queued posts), ``sent`` (every attempt:
        ``notification_type``, ``url``, ``status_code``, ``ok``, ``error``, ``payload``) and
        ``errors`` (one line per failed attempt).
        """
        with self._lock:
            self._settle()
            return {"flavour": self.flavour, "arr_fail": self.arr_fail, "api_key": self.api_key,
                    "config": self.config(),
                    "plex": {"attached": self.plex is not None, "machineIdentifier": self._machine_id()},
                    "users": [self.user_json(u) for u in self.users.values()],
                    "media": [self.media_json(m) for m in self.media.values()],
                    "requests": [self.request_json(r) for r in self.requests.values()],
                    "webhooks": {"url": self.webhook_url, **self._webhooks.snapshot()},
                    "faults": self.faults.snapshot()}

    def set_faults(self, **kwargs: Any) -> None:
        self.faults.set(**kwargs)

    def clear_faults(self) -> None:
        self.faults.clear()
