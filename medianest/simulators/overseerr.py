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
link to Plex in Media       ``plexUrl``, ``iOSPlexUrl``   ``plexUrl: null``; ``mediaUrl``,
                                                          ``iOSPlexUrl``
new request for a title     409 while its first request   201 once that request is COMPLETED
that is available           is APPROVED                   (an admin's is auto-approved)
``canRemove``               —                             in ``GET /request`` results only
                                                          (not in ``GET /request/{id}``)
==========================  ===========================  ===================================

No Radarr/Sonarr is configured, as on the observed servers (§3.13, §3.15): an approval answers
with the request APPROVED and its media still PENDING (2); an explicit approval moves the media
to PROCESSING (3) ``PROCESSING_DELAY_S`` later, an auto-approved request's media stays PENDING.
``arr_fail`` plays a Radarr/Sonarr that refuses: approved requests become FAILED at once.

Public API:
    ``OverseerrSim``: the state (users, catalogue, media, requests, faults) with a
        thread-safe Python API (``approve``, ``decline``, ``mark_available``,
        ``mark_media_available``, ``mark_failed``, ``configure``/``config``, ``set_flavour``,
        ``remove_user``, ``flush_webhooks``, ``state``, ``reset``, ``close``,
        ``set_faults``/``clear_faults``). Its ``plex`` attribute (constructor keyword, or set
        later) is the ``PlexSim`` the simulated Plex scans write to.
    ``create_overseerr_app(sim)``: the Starlette app (wrapped in ``FaultsMiddleware``).
    ``OverseerrStack``: the app bound to a socket, to serve in an event loop of one's own
        (``python -m medianest.simulators``).
    ``serve_overseerr_in_thread(host, port=0, **opts)``: uvicorn in a daemon thread; returns an
        ``OverseerrHandle`` with ``.sim``, ``.url`` and ``.stop()``.

Fixtures (``fixtures.py``): API key ``fixtures.OVERSEERR_API_KEY`` (acts as user 1);
users 1 alice (plexId 1001, ADMIN), 2 bob (1002, REQUEST), 3 carol (1003, REQUEST, movie
quota 1 per 7 days). The Plex library titles are AVAILABLE (Breaking Bad, The Office and
Sherlock PARTIALLY_AVAILABLE) with the ratingKeys of the PMS simulator's fixtures; the extra
titles have no Media row. Every title has a deterministic TMDB-style ``posterPath``.

Auth: no ``X-Api-Key`` → 401 ``{"message":"cookie 'connect.sid' required"}`` (§3.15); a
wrong key or an unknown ``X-Api-User`` → 403 ``{"status":403,"error":…}``.

The request → Plex loop (§6): when media becomes available (``mark_available``,
``mark_media_available`` or the hooks below) and a ``PlexSim`` is attached, the title is put
into the PMS simulator the way a download plus a library scan would: a movie in section 1
(``PlexSim.add_movie``), a show in section 2 with the requested seasons, one episode each
(``PlexSim.add_show``), all carrying ``Guid`` ``tmdb://<id>`` (and ``imdb://``/``tvdb://``
when known); a title already there (same ``tmdb://`` guid) is reused. The media's
``ratingKey`` is that PMS item's, and the link (``plexUrl``; Seerr: ``mediaUrl``) points at the
PMS simulator's household ``machineIdentifier``. Without a ``PlexSim`` ratingKeys come from a counter (9001…).

Background work (both stopped by ``reset()``, which restores the constructor's settings, and
by ``close()``/``OverseerrHandle.stop()``):
    auto-progress: with ``auto_approve_after_s`` a PENDING request is approved (as user 1)
        that many seconds after it was created; with ``available_after_s`` an APPROVED
        request becomes available that many seconds after its approval. ``None`` = off.
    webhook agent: with ``webhook_url`` set, Overseerr's *default* webhook JSON (every value
        a string, as its template makes them) is POSTed for MEDIA_PENDING /
        MEDIA_AUTO_APPROVED (request created), MEDIA_APPROVED, MEDIA_DECLINED, MEDIA_FAILED
        and MEDIA_AVAILABLE, with ``webhook_authorization`` as the ``Authorization`` header
        when set. Deliveries run in order on one daemon thread, never under the state lock,
        with a short timeout; failures (transport errors, non-2xx) are logged and listed in
        ``state()["webhooks"]["errors"]``; every attempt is in ``…["sent"]``. Overseerr
        skips the approved/declined notification when the media is already AVAILABLE; so
        does the simulator.

TMDB image stand-in: ``GET /__sim__/tmdb/t/p/{size}/{file}`` answers a small deterministic
placeholder PNG (``size`` like ``w500``, ``w300_and_h450_face``, ``h632`` or ``original``),
so ``<sim url>/__sim__/tmdb/t/p`` can replace ``https://image.tmdb.org/t/p`` offline.

Users' settings (§3.15): ``GET|POST /api/v1/user/{id}/settings/main`` (own profile or
MANAGE_USERS; quota fields are changed only by a MANAGE_USERS user editing someone else; the
owner's settings only by the owner) and ``GET|POST /api/v1/user/{id}/settings/permissions``
(MANAGE_USERS; not the owner's, not one's own; only the owner grants ADMIN).

Test hooks (JSON; errors are ``{"error": …}``):
    ``POST /__sim__/requests/{id}/approve|decline|available|fail``. ``available`` plays the
    Plex scan for that request: media (and the requested seasons) AVAILABLE with a
    ``ratingKey``; in Seerr the request becomes COMPLETED.
    ``POST /__sim__/media/{movie|tv}/{tmdbId}/available``: the scan finds the title; every
    APPROVED request for it becomes available, or, without one, the media itself (every
    TMDB season of a show). Answers ``{"media": …, "requests": […]}``; 404 for an unknown title.
    ``POST /__sim__/flavour`` ``{"flavour": "overseerr"|"seerr"}``,
    ``POST /__sim__/config`` with any of ``{"arr_fail": bool, "auto_approve_after_s": s|null,
    "available_after_s": s|null, "webhook_url": url|null, "webhook_authorization": str|null}``
    (answers the whole configuration),
    ``GET /__sim__/state``, ``POST /__sim__/reset``, ``GET|POST|DELETE /__sim__/faults``.

Choices where the docs are silent (UNVERIFIED): the clock is simulated (starts at
``FIXTURE_EPOCH`` and moves one second per change); an unknown TV id answers
``"Unable to retrieve series."``; search pages hold 20 results, no people or collections;
``userId`` of an unknown user answers 404 ``"User not found."``; the webhook ``image`` uses
the stand-in above when the simulator knows its own URL (TMDB's otherwise); the stand-in
serves PNG whatever the file name says and 404 for sizes TMDB would not know.
"""

from __future__ import annotations

import hashlib
import logging
import math
import queue
import re
import string
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from medianest.simulators import fixtures
from medianest.simulators.faults import FaultInjector, FaultsMiddleware
from medianest.simulators.plex import PlexSim, SimError, SingleAppStack, _json_body, _png_response
from medianest.simulators.threads import ServerThread, ThreadHandle

logger = logging.getLogger(__name__)

FLAVOURS = ("overseerr", "seerr")

# Request statuses (MediaRequestStatus) and media statuses (MediaStatus), §3.3.
PENDING, APPROVED, DECLINED, FAILED, COMPLETED = 1, 2, 3, 4, 5
M_UNKNOWN, M_PENDING, M_PROCESSING, M_PARTIAL, M_AVAILABLE = 1, 2, 3, 4, 5
#: ``MediaStatus[n]`` as Overseerr's webhook template writes it.
MEDIA_STATUS_NAMES = {M_UNKNOWN: "UNKNOWN", M_PENDING: "PENDING", M_PROCESSING: "PROCESSING",
                      M_PARTIAL: "PARTIALLY_AVAILABLE", M_AVAILABLE: "AVAILABLE"}

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

#: Settings ``POST /__sim__/config`` and ``configure()`` accept.
CONFIG_KEYS = ("arr_fail", "auto_approve_after_s", "available_after_s", "webhook_url", "webhook_authorization")
#: Where the TMDB image stand-in lives on the simulator (append ``/{size}{posterPath}``).
TMDB_IMAGE_PATH = "/__sim__/tmdb/t/p"
TMDB_IMAGE_URL = "https://image.tmdb.org/t/p"
#: Poster size Overseerr puts in notification images.
WEBHOOK_IMAGE_SIZE = "w600_and_h900_bestv2"
#: Seconds one webhook POST may take before it counts as failed.
WEBHOOK_TIMEOUT_S = 5.0
#: How often the auto-progress thread looks for due requests.
AUTO_PROGRESS_TICK_S = 0.1
#: Seconds after an approval until the media moves from PENDING to PROCESSING (§3.15: "a moment later").
PROCESSING_DELAY_S = 0.3
#: Seconds ``close()`` waits for each background thread.
_JOIN_TIMEOUT_S = 2.0

_BASE62 = string.digits + string.ascii_letters
_IMAGE_FILE = re.compile(r"[A-Za-z0-9_-]{1,64}\.(?:jpe?g|png|webp|svg)")


def _has(perms: int, *bits: int) -> bool:
    """Overseerr's ``hasPermission(..., {type: 'or'})``: ADMIN passes every check."""
    return bool(perms & ADMIN) or any(perms & b for b in bits)


def _tmdb_image_path(*parts: object) -> str:
    """A deterministic TMDB-style image path (``/`` + 27 base-62 characters + ``.jpg``)."""
    number = int.from_bytes(hashlib.sha1(":".join(str(p) for p in parts).encode()).digest(), "big")
    chars = []
    for _ in range(27):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "/" + "".join(chars) + ".jpg"


def _tmdb_size(size: str) -> tuple[int, int] | None:
    """Pixel size of a TMDB image size name (posters are 2:3), ``None`` if TMDB would not know it."""
    if size == "original":
        return 500, 750
    if match := re.fullmatch(r"w(\d{1,4})_and_h(\d{1,4})(?:_[a-z0-9]+)?", size):
        return int(match.group(1)), int(match.group(2))
    if match := re.fullmatch(r"w(\d{1,4})", size):
        return int(match.group(1)), round(int(match.group(1)) * 1.5)
    if match := re.fullmatch(r"h(\d{1,4})", size):
        return round(int(match.group(1)) / 1.5), int(match.group(1))
    return None


def _truncate(text: str, length: int = 500) -> str:
    """lodash ``truncate(text, {length, separator: /\\s/, omission: '…'})`` as Overseerr uses it."""
    if len(text) <= length:
        return text
    cut = text[: length - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind("\t"))
    return (cut[:space] if space > 0 else cut) + "…"


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

    @property
    def poster_path(self) -> str:
        return _tmdb_image_path("poster", self.media_type, self.tmdb)

    @property
    def backdrop_path(self) -> str:
        return _tmdb_image_path("backdrop", self.media_type, self.tmdb)


# --------------------------------------------------------------------------------------
# Background helpers: the auto-progress ticker and the webhook sender
# --------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class _Delivery:
    generation: int
    url: str
    authorization: str | None
    payload: dict[str, Any]


class _WebhookSender:
    """Posts webhook payloads in order from one daemon thread; never raises into the caller."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._queue: queue.SimpleQueue[_Delivery | None] | None = None
        self._generation = 0
        self._pending = 0
        self._sent: list[dict[str, Any]] = []
        self._errors: list[str] = []

    def submit(self, url: str, authorization: str | None, payload: dict[str, Any]) -> None:
        """Queue one POST (starts the sender thread when needed)."""
        with self._cond:
            if self._thread is None or self._queue is None:
                self._queue = queue.SimpleQueue()
                self._thread = threading.Thread(target=self._run, args=(self._queue,), name="overseerr-webhooks",
                                                daemon=True)
                self._thread.start()
            self._pending += 1
            self._queue.put(_Delivery(self._generation, url, authorization, payload))

    def _run(self, deliveries: queue.SimpleQueue[_Delivery | None]) -> None:
        while (delivery := deliveries.get()) is not None:
            self._deliver(delivery)

    def _deliver(self, delivery: _Delivery) -> None:
        with self._cond:
            stale = delivery.generation != self._generation
        record: dict[str, Any] | None = None
        if not stale:
            kind = delivery.payload.get("notification_type")
            headers = {"Authorization": delivery.authorization} if delivery.authorization else {}
            status: int | None = None
            error: str | None = None
            try:
                response = httpx.post(delivery.url, json=delivery.payload, headers=headers, timeout=self.timeout)
                status = response.status_code
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
            except Exception as exc:  # noqa: BLE001 - any failure is recorded, never raised
                error = f"{type(exc).__name__}: {exc}"
            if error:
                logger.warning("webhook %s to %s failed: %s", kind, delivery.url, error)
            record = {"notification_type": kind, "url": delivery.url, "status_code": status, "ok": error is None,
                      "error": error, "payload": delivery.payload}
        with self._cond:
            if record is not None and delivery.generation == self._generation:
                self._sent.append(record)
                if record["error"]:
                    self._errors.append(f"{record['notification_type']} → {record['url']}: {record['error']}")
            self._pending -= 1
            self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait until every queued delivery is done; ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def clear(self) -> None:
        """Forget the log; deliveries still queued are dropped."""
        with self._cond:
            self._generation += 1
            self._sent.clear()
            self._errors.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._cond:
            return {"sent": [dict(r) for r in self._sent], "errors": list(self._errors), "pending": self._pending}

    def close(self) -> None:
        """Let the thread finish what is queued, then end it."""
        with self._cond:
            thread, deliveries = self._thread, self._queue
            self._thread = self._queue = None
        if thread is not None and deliveries is not None:
            deliveries.put(None)
            if threading.current_thread() is not thread:
                thread.join(_JOIN_TIMEOUT_S)


def _check_config(key: str, value: Any) -> Any:
    """Validate one ``CONFIG_KEYS`` value; returns it normalised.

    Raises:
        ValueError: Unknown key or unusable value.
    """
    if key == "arr_fail":
        if not isinstance(value, bool):
            raise ValueError("arr_fail must be true or false")
        return value
    if key in ("auto_approve_after_s", "available_after_s"):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{key} must be a number of seconds >= 0, or null")
        return float(value)
    if key == "webhook_url":
        if value is None or value == "":
            return None
        if not isinstance(value, str) or not re.match(r"https?://[^/\s]+", value):
            raise ValueError("webhook_url must be an http(s) URL, or null")
        return value
    if key == "webhook_authorization":
        if value is None or value == "":
            return None
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            raise ValueError("webhook_authorization must be a one-line string, or null")
        return value
    raise ValueError(f"unknown config key {key!r}; known: {', '.join(CONFIG_KEYS)}")


# --------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------


class OverseerrSim:
    """In-memory Overseerr: users, TMDB catalogue, media rows and requests (thread-safe)."""

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
        """Queue Overseerr's default webhook payload for ``kind`` about ``req`` (caller holds the lock).

        The shape is the default ``jsonPayload`` of Overseerr 1.34 / Seerr 3.1
        (``server/lib/settings``) filled the way ``WebhookAgent.parseKeys`` fills it: every
        template value is a string, ``issue``/``comment`` are ``null``, ``extra`` holds the
        requested seasons for series.
        """
        url = self.webhook_url
        if not url:
            return
        media = self.media[req["mediaId"]]
        t = self._title_of(media)
        user = self.users.get(req["requestedBy"])
        what = "Movie" if media["mediaType"] == "movie" else "Series"
        four_k = "4K " if req["is4k"] else ""
        event = {
            "MEDIA_PENDING": f"New {four_k}{what} Request",
            "MEDIA_AUTO_APPROVED": f"{four_k}{what} Request Automatically Approved",
            "MEDIA_APPROVED": f"{four_k}{what} Request Approved",
            "MEDIA_DECLINED": f"{four_k}{what} Request Declined",
            "MEDIA_FAILED": f"{four_k}{what} Request Failed",
            "MEDIA_AVAILABLE": f"{four_k}{what} Request Now Available",
        }[kind]
        extra = [] if media["mediaType"] == "movie" else [
            {"name": "Requested Seasons", "value": ", ".join(str(s["seasonNumber"]) for s in req["seasons"])}]
        payload = {
            "notification_type": kind,
            "event": event,
            "subject": f"{t.title} ({t.year})",
            "message": _truncate(t.overview),
            "image": f"{self._tmdb_image_base()}/{WEBHOOK_IMAGE_SIZE}{t.poster_path}",
            "media": {"media_type": media["mediaType"], "tmdbId": str(media["tmdbId"]),
                      "tvdbId": "" if media["tvdbId"] is None else str(media["tvdbId"]),
                      "status": MEDIA_STATUS_NAMES.get(media["status"], ""),
                      "status4k": MEDIA_STATUS_NAMES.get(media["status4k"], "")},
            "request": {"request_id": str(req["id"]),
                        "requestedBy_email": (user or {}).get("email") or "",
                        "requestedBy_username": self.user_json(user)["displayName"] if user else "",
                        "requestedBy_avatar": (user or {}).get("avatar") or "",
                        "requestedBy_settings_discordId": "",
                        "requestedBy_settings_telegramChatId": ""},
            "issue": None,
            "comment": None,
            "extra": extra,
        }
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

    def _get(self, request_id: int) -> dict[str, Any]:
        self._settle()
        req = self.requests.get(request_id)
        if req is None:
            raise _msg(404, "Request not found.")
        return req

    def _fulfilled(self, req: dict[str, Any]) -> bool:
        """Whether everything ``req`` asked for is AVAILABLE."""
        media = self.media[req["mediaId"]]
        key = "status4k" if req["is4k"] else "status"
        if req["type"] == "movie":
            return media[key] == M_AVAILABLE
        available = {s["seasonNumber"] for s in media["seasons"] if s[key] == M_AVAILABLE}
        return all(s["seasonNumber"] in available for s in req["seasons"])

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

    _QUOTA_KEYS = ("movieQuotaLimit", "movieQuotaDays", "tvQuotaLimit", "tvQuotaDays")

    def _settings_target(self, acting: dict[str, Any], user_id: int) -> dict[str, Any]:
        if not _has(acting["permissions"], MANAGE_USERS) and acting["id"] != user_id:
            raise _msg(403, "You do not have permission to view this user's settings.")
        user = self.users.get(user_id)
        if user is None:
            raise _msg(404, "User not found.")
        return user

    def user_settings_main(self, acting: dict[str, Any], user_id: int) -> dict[str, Any]:
        """``GET /user/{id}/settings/main`` (own profile or MANAGE_USERS)."""
        with self._lock:
            user = self._settings_target(acting, user_id)
            data = {"username": user["username"], "email": user["email"], "discordId": None, "locale": "",
                    "region": None, "originalLanguage": None, "watchlistSyncMovies": False,
                    "watchlistSyncTv": False, "globalMovieQuotaLimit": None, "globalMovieQuotaDays": 7,
                    "globalTvQuotaLimit": None, "globalTvQuotaDays": 7}
            data.update({k: user[k] for k in self._QUOTA_KEYS})
            return data

    def set_user_settings_main(self, acting: dict[str, Any], user_id: int, body: dict[str, Any]
                               ) -> dict[str, Any]:
        """``POST /user/{id}/settings/main``: the quota fields change only when a MANAGE_USERS user
        edits someone else (as Overseerr 1.34's route); the owner's settings only by the owner."""
        for key in self._QUOTA_KEYS:
            value = body.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise _validation(f".body.{key}", "should be number")
        with self._lock:
            user = self._settings_target(acting, user_id)
            if user["id"] == 1 and acting["id"] != 1:
                raise _msg(403, "You do not have permission to modify this user's settings.")
            if "username" in body:
                user["username"] = body.get("username") or None
            if _has(acting["permissions"], MANAGE_USERS) and acting["id"] != user["id"]:
                for key in self._QUOTA_KEYS:
                    user[key] = body.get(key)
            user["updatedAt"] = self._now()
            return {"username": user["username"], "discordId": None, "locale": "", "region": None,
                    "originalLanguage": None, "watchlistSyncMovies": False, "watchlistSyncTv": False}

    def user_permissions(self, acting: dict[str, Any], user_id: int) -> dict[str, Any]:
        """``GET /user/{id}/settings/permissions`` (MANAGE_USERS)."""
        if not _has(acting["permissions"], MANAGE_USERS):
            raise ApiError(403, NO_PERMISSION)
        with self._lock:
            user = self.users.get(user_id)
            if user is None:
                raise _msg(404, "User not found.")
            return {"permissions": user["permissions"]}

    def set_user_permissions(self, acting: dict[str, Any], user_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /user/{id}/settings/permissions``: not the owner's, not one's own; only the owner
        grants ADMIN."""
        if not _has(acting["permissions"], MANAGE_USERS):
            raise ApiError(403, NO_PERMISSION)
        permissions = body.get("permissions")
        if isinstance(permissions, bool) or not isinstance(permissions, int) or permissions < 0:
            raise _validation(".body.permissions", "should be number")
        with self._lock:
            user = self.users.get(user_id)
            if user is None:
                raise _msg(404, "User not found.")
            if user["id"] == 1 or acting["id"] == user["id"]:
                raise _msg(403, "You do not have permission to modify this user")
            if permissions & ADMIN and acting["id"] != 1:
                raise _msg(403, "You do not have permission to grant this level of access")
            user["permissions"] = permissions
            user["updatedAt"] = self._now()
            return {"permissions": permissions}

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


# --------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------

Handler = Callable[[Request], Awaitable[Response]]


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object of a request; otherwise the validator's 400 shape (§3.2)."""
    return await _json_body(request, lambda message: _validation(".body", message))


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

    async def user_main(request: Request, acting: Any) -> Response:
        uid = request.path_params["user_id"]
        if request.method == "POST":
            return JSONResponse(sim.set_user_settings_main(acting, uid, await _body(request)))
        return JSONResponse(sim.user_settings_main(acting, uid))

    async def user_permissions(request: Request, acting: Any) -> Response:
        uid = request.path_params["user_id"]
        if request.method == "POST":
            return JSONResponse(sim.set_user_permissions(acting, uid, await _body(request)))
        return JSONResponse(sim.user_permissions(acting, uid))

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

    async def hook_media_available(request: Request) -> Response:
        return JSONResponse(sim.mark_media_available(request.path_params["media_type"],
                                                     request.path_params["tmdb_id"]))

    async def hook_flavour(request: Request) -> Response:
        data = await _body(request)
        sim.set_flavour(str(data.get("flavour", "")))
        return JSONResponse({"flavour": sim.flavour})

    async def hook_config(request: Request) -> Response:
        return JSONResponse(sim.configure(**await _body(request)))

    async def hook_state(_: Request) -> Response:
        return JSONResponse(sim.state())

    async def hook_reset(_: Request) -> Response:
        sim.reset()
        return JSONResponse({"reset": True})

    async def tmdb_image(request: Request) -> Response:
        size = _tmdb_size(request.path_params["size"])
        name = request.path_params["file"]
        if size is None or not _IMAGE_FILE.fullmatch(name):
            return PlainTextResponse("Not Found", status_code=404)
        return _png_response(size[0], size[1], name)

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
        Route("/api/v1/user/{user_id:int}/settings/main", api(user_main), methods=["GET", "POST"]),
        Route("/api/v1/user/{user_id:int}/settings/permissions", api(user_permissions), methods=["GET", "POST"]),
        Route("/__sim__/requests/{request_id:int}/{action}", hook(hook_request), methods=["POST"]),
        Route("/__sim__/media/{media_type}/{tmdb_id:int}/available", hook(hook_media_available), methods=["POST"]),
        Route("/__sim__/flavour", hook(hook_flavour), methods=["POST"]),
        Route("/__sim__/config", hook(hook_config), methods=["POST"]),
        Route("/__sim__/state", hook_state, methods=["GET"]),
        Route("/__sim__/reset", hook_reset, methods=["POST"]),
        Route(TMDB_IMAGE_PATH + "/{size}/{file}", tmdb_image, methods=["GET"]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(FaultsMiddleware, injector=sim.faults)])


# --------------------------------------------------------------------------------------
# Serving
# --------------------------------------------------------------------------------------


class OverseerrStack(SingleAppStack):
    """The simulator bound to a socket (port 0 picks a free one), ready to be served in an event
    loop; options go to ``OverseerrSim`` (``flavour``, ``plex``, ``available_after_s`` …)."""

    sim_class = OverseerrSim
    app_factory = staticmethod(create_overseerr_app)

    def request_exit(self) -> None:
        """Ask the server to stop (a second call forces it) and end the background threads."""
        self.sim.clear_faults()  # an "outage" would otherwise keep requests (and the server) hanging
        self.sim.close()
        self._stop_server()


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
        **sim_options: ``OverseerrSim`` keywords (``flavour``, ``api_key``, ``arr_fail``, ``plex``,
            ``auto_approve_after_s``, ``available_after_s``, ``webhook_url``, ``webhook_authorization``).

    Returns:
        A handle with ``.sim``, ``.url`` and ``.stop()``.

    Raises:
        RuntimeError: If the server does not start within 10 seconds.
    """
    stack = OverseerrStack(host, port, log_level=log_level, advertise_host=advertise_host, **sim_options)
    runner = ServerThread("overseerr-simulator", stack.serve, started=lambda: stack.started,
                          request_exit=stack.request_exit)
    logger.info("Overseerr simulator on %s", stack.url)
    return OverseerrHandle(stack.sim, stack.url, runner)


__all__ = [
    "APPROVED", "COMPLETED", "CONFIG_KEYS", "DECLINED", "FAILED", "FLAVOURS", "MEDIA_STATUS_NAMES", "PENDING",
    "TMDB_IMAGE_PATH", "OverseerrHandle", "OverseerrSim", "OverseerrStack", "create_overseerr_app",
    "serve_overseerr_in_thread",
]
