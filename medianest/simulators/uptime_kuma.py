"""Simulator of Uptime Kuma 1.23.x and 2.x: ``/metrics``, public status pages, push
monitors and the Socket.IO API, in one ASGI app.

It follows ``shared/docs/integrations.md`` §4 (see §4.8 for what it must do and §4.9 for
the quirks it reproduces). The version is switchable at run time (``"1.23"`` or
``"2.x"``); every version difference listed there is simulated:

=====================================  ===================================  ==================================
                                       1.23 (reports 1.23.16)               2.x (reports 2.5.3)
=====================================  ===================================  ==================================
``/metrics`` labels                    name, type, url, hostname, port      + ``monitor_id``, one per tag name,
                                                                            + ``monitor_uptime_ratio`` and
                                                                            ``monitor_response_time_seconds``
``/api/status-page/{slug}``            ``incident`` (object or null)        ``incidents`` (array), more config
unknown slug                           hangs (``unknown_slug_hang_seconds``)  404 ``{"status":"fail",...}``
``/api/status-page/heartbeat/{slug}``  50 beats per monitor                 100 beats per monitor
``/api/push/{token}``                  GET only                             any method
socket ``login`` failure               "Incorrect username or password."    "authIncorrectCreds" + msgi18n
events before the first ``info``       handled                              dropped (no ack), §4.9
after login                            + ``importantHeartbeatList``         + ``remoteBrowserList``,
                                                                            ``monitorTypeList``, ``uptime "1y"``
=====================================  ===================================  ==================================

Public API:
    ``KumaSim``: the state (monitors, heartbeat rings, API keys, user, status page,
        maintenance, faults) with a thread-safe Python API for in-process tests.
    ``create_kuma_app(sim)``: the ASGI app (Starlette routes + python-socketio at ``/socket.io/``).
    ``KumaStack`` / ``serve_kuma_in_thread(host, port, **opts)``: serving with uvicorn;
        the latter returns a ``KumaHandle`` with ``.sim``, ``.url`` and ``.stop()``.

Fixtures (``fixtures.py``, all deterministic):
    Monitors 1 Plex (http), 2 Overseerr (https, TLS cert 42 days), 3 NAS (ping),
    4 VPN (port 443), 5 Home Assistant (http, **paused**), 6 Downloader (push, token
    ``medianest-downloader``, **never beat**). Monitors 1-5 start with 100 past beats
    (60 s apart, newest a few seconds old); all of them are UP now. Overseerr was DOWN
    for four beats ~40 min ago and NAS PENDING once.
    User ``admin`` / ``kuma-sim-password``; ``KumaSim.token`` is its login JWT
    (HS256 over ``{"username":"admin","h":…}``, fixed secret, so always the same).
    API key ``uk1_MediaNestSimulatorKey0123456789abcdefghi`` (id 1, active) and
    ``uk2_InactiveSimulatorKey0123456789abcdefghij`` (id 2, inactive: rejected).
    Status page ``household`` (published, one public group "Services" with every active
    monitor: 1, 2, 3, 4, 6), with a pinned incident. One scheduled maintenance (id 1).

Test hooks (JSON; errors are ``{"error": …}`` with 400/404):
    ``POST /__sim__/monitors/{id}/status`` ``{"status": "down"|"up"|"pending"|"maintenance",
    "ping": optional ms, "msg": optional}``: adds an important beat now, pushes
    ``heartbeat`` + stats to logged-in sockets and clears the status-page caches.
    ``POST /__sim__/monitors/{id}/pause`` and ``/resume`` (resume beats at once).
    ``POST /__sim__/monitors/{id}/rename`` ``{"name": "NAS"}`` (names need not be unique).
    ``POST /__sim__/advance`` ``{"seconds": 120}``: move the clock; active monitors beat
    once per elapsed interval (at most 100 beats each).
    ``POST /__sim__/version`` ``{"version": "1.23"|"2.x"}``.
    ``POST /__sim__/config`` ``{"unknown_slug_hang_seconds", "page_cache_seconds",
    "heartbeat_cache_seconds", "login_rate_limit", "first_info_delay_seconds"}`` (any subset;
    the last is how long 2.x takes to send a new connection its first ``info``).
    ``POST /__sim__/api-keys`` ``{"enabled": false}``: behave as if no key was ever
    created, so ``/metrics`` takes the admin's username and password (§4.9).
    ``POST /__sim__/socket/disconnect-all``, ``POST /__sim__/socket/refuse-logins``
    ``{"refuse": true}``.
    ``POST /__sim__/override`` ``{"path": "/metrics", "body": "garbage", "status": 200,
    "content_type": "text/plain", "times": null}``: answer that path with this body
    instead (malformed-body tests); ``DELETE /__sim__/override`` removes every override.
    ``GET /__sim__/state``, ``POST /__sim__/reset``, ``GET|POST|DELETE /__sim__/faults``
    (``faults.py``; faults apply to HTTP only, never to ``/socket.io/``).

Python API (thread-safe): ``set_status``, ``rename``, ``pause``, ``resume``, ``push``, ``advance``,
``tick``, ``set_version``, ``configure``, ``set_api_keys_enabled``,
``refuse_socket_logins``, ``disconnect_all_sockets``, ``set_faults``/``clear_faults``,
``override_response``/``clear_overrides``,
``metrics_text``, ``status_page``, ``status_page_heartbeats``, ``state``, ``reset``.

Choices made where reality is UNVERIFIED (integrations.md):
    - ``null`` hostname/port labels render as ``"null"`` (prom-client prints the
      value as is); monitors that are not http keep the UI's default url ``"https://"``.
    - Uptime counts UP and MAINTENANCE beats as up, by beat count (not duration).
    - The public heartbeat list gives ``[]`` and no ``uptimeList`` entry for a monitor
      without beats; ``importantHeartbeatList`` is newest first.
    - Once the hang of an unknown 1.23 slug is over the request gets an empty 408.
    - ``active`` in ``monitorList`` is a boolean in both versions.
    - Socket calls that need a login answer ``{"ok":false,"msg":"You are not logged in."}``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import socketio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from medianest.simulators import fixtures
from medianest.simulators.faults import FaultInjector, FaultsMiddleware
from medianest.simulators.threads import ServerThread, ThreadHandle
from medianest.simulators.plex import SimError, SingleAppStack, _json_body

logger = logging.getLogger(__name__)

STATUS_DOWN, STATUS_UP, STATUS_PENDING, STATUS_MAINTENANCE = 0, 1, 2, 3
STATUS_CODES = {"down": STATUS_DOWN, "up": STATUS_UP, "pending": STATUS_PENDING,
                "maintenance": STATUS_MAINTENANCE}
STATUS_NAMES = {v: k for k, v in STATUS_CODES.items()}
VERSIONS = ("1.23", "2.x")
#: Heartbeats kept per monitor (the socket sends the newest 100, status pages 50/100).
RING_SIZE = 1000
_UP_LIKE = (STATUS_UP, STATUS_MAINTENANCE)
_ROOM = "authenticated"
_LOGIN_WINDOW_SECONDS = 60.0

_NOT_LOGGED_IN = {"ok": False, "msg": "You are not logged in."}
_LOGIN_FAILED = {
    "1.23": {"ok": False, "msg": "Incorrect username or password."},
    "2.x": {"ok": False, "msg": "authIncorrectCreds", "msgi18n": True},
}
_TOKEN_FAILED = {
    "1.23": {"ok": False, "msg": "Invalid token."},
    "2.x": {"ok": False, "msg": "authInvalidToken", "msgi18n": True},
}
_RATE_LIMITED = {"ok": False, "msg": "Too frequently, try again later."}


def kuma_time(epoch: float) -> str:
    """Kuma's time format: UTC, no zone, milliseconds (``2025-01-01 10:00:00.000``)."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _kuma_date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _login_token(username: str, password: str) -> str:
    """A JWT shaped like Kuma's (``{username, h}``), without ``iat`` so it is stable."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    h = hashlib.shake_256(password.encode()).hexdigest(16)
    payload = _b64url(json.dumps({"username": username, "h": h}, separators=(",", ":")).encode())
    signature = hmac.new(fixtures.KUMA_JWT_SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{_b64url(signature.digest())}"


def _prom_label(value: Any) -> str:
    text = "null" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _prom_value(value: float) -> str:
    if value != value:  # NaN
        return "NaN"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _tag_label_name(name: str) -> str:
    label = re.sub(r"[^a-zA-Z0-9_]", "_", name)
    return f"_{label}" if label[:1].isdigit() else label


# --------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------


@dataclass
class Heartbeat:
    """One row of Kuma's ``heartbeat`` table."""

    id: int
    monitor_id: int
    status: int
    time: float
    ping: float | None
    msg: str
    important: bool
    duration: int
    down_count: int = 0
    retries: int = 0


@dataclass
class Monitor:
    """One monitor and its heartbeat ring (oldest first)."""

    id: int
    name: str
    type: str
    url: str
    hostname: str | None
    port: int | None
    active: bool
    interval: int
    tags: list[tuple[str, str]]
    push_token: str | None
    cert_days_remaining: int | None
    base_ping_ms: float | None
    in_maintenance: bool = False
    beats: deque[Heartbeat] = field(default_factory=lambda: deque(maxlen=RING_SIZE))

    @property
    def last(self) -> Heartbeat | None:
        """The newest beat, if any."""
        return self.beats[-1] if self.beats else None


@dataclass
class ApiKey:
    """An API key ``uk<id>_<secret>``."""

    id: int
    name: str
    key: str
    active: bool
    created: float


class KumaSim:
    """In-memory Uptime Kuma with a thread-safe Python API.

    Public methods take one re-entrant lock and never await while holding it; socket
    events they cause are handed to the app's event loop.
    """

    def __init__(self, version: str = "2.x", *, base_url: str = "http://127.0.0.1:3001",
                 unknown_slug_hang_seconds: float = 300.0, page_cache_seconds: float = 300.0,
                 heartbeat_cache_seconds: float = 60.0, login_rate_limit: int = 20,
                 auto_beat_seconds: float | None = None, api_keys_enabled: bool = True,
                 first_info_delay_seconds: float = 0.2) -> None:
        """Create the state from the fixtures.

        Args:
            version: ``"1.23"`` or ``"2.x"``.
            base_url: Where the app is served (informational).
            unknown_slug_hang_seconds: How long 1.23 holds a request for an unknown slug.
            page_cache_seconds: Server-side cache of ``/api/status-page/{slug}``.
            heartbeat_cache_seconds: Server-side cache of ``/api/status-page/heartbeat/{slug}``.
            login_rate_limit: Socket logins accepted per minute (Kuma: 20).
            auto_beat_seconds: If set, every active monitor beats this often while served
                (demo mode); tests leave it off and use ``advance``/``set_status``.
            api_keys_enabled: Whether an API key was ever created (then ``/metrics``
                takes only API keys, otherwise the admin's username and password).
            first_info_delay_seconds: 2.x only: how long a new connection waits for its
                first ``info`` (Kuma awaits a few database reads first); whatever the
                client emits before that is dropped, as 2.x registers its handlers after it.

        Raises:
            ValueError: If ``version`` is not known.
        """
        self._check_version(version)
        self.base_url = base_url.rstrip("/")
        self._defaults = {
            "version": version, "unknown_slug_hang_seconds": float(unknown_slug_hang_seconds),
            "page_cache_seconds": float(page_cache_seconds),
            "heartbeat_cache_seconds": float(heartbeat_cache_seconds),
            "login_rate_limit": int(login_rate_limit), "api_keys_enabled": bool(api_keys_enabled),
            "first_info_delay_seconds": float(first_info_delay_seconds),
        }
        self.auto_beat_seconds = auto_beat_seconds
        self.username = fixtures.KUMA_USERNAME
        self.password = fixtures.KUMA_PASSWORD
        self.faults = FaultInjector("uptime-kuma")
        self._lock = threading.RLock()
        self._hub: _SocketHub | None = None
        self._stopping = threading.Event()
        self.reset()

    # ---- lifecycle, clock, options ---------------------------------------------------

    @staticmethod
    def _check_version(version: str) -> None:
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}")

    def reset(self) -> None:
        """Back to the fixtures and the constructor options; clears faults and socket flags."""
        with self._lock:
            self.version: str = self._defaults["version"]
            self.unknown_slug_hang_seconds: float = self._defaults["unknown_slug_hang_seconds"]
            self.page_cache_seconds: float = self._defaults["page_cache_seconds"]
            self.heartbeat_cache_seconds: float = self._defaults["heartbeat_cache_seconds"]
            self.login_rate_limit: int = self._defaults["login_rate_limit"]
            self.api_keys_enabled: bool = self._defaults["api_keys_enabled"]
            self.first_info_delay_seconds: float = self._defaults["first_info_delay_seconds"]
            self.refuse_logins = False
            self._overrides: dict[str, dict[str, Any]] = {}
            self._clock_offset = 0.0
            self._login_times: deque[float] = deque()
            self._cache: dict[tuple[str, str, str], tuple[float, dict[str, Any]]] = {}
            self._next_beat_id = 1
            self._rng = random.Random(20250101)
            now = self.now()
            self.started_at = now
            self.api_keys = {
                fixtures.KUMA_API_KEY_ID: ApiKey(fixtures.KUMA_API_KEY_ID, "MediaNest", fixtures.KUMA_API_KEY,
                                                 True, now - 30 * 86400),
                fixtures.KUMA_INACTIVE_API_KEY_ID: ApiKey(fixtures.KUMA_INACTIVE_API_KEY_ID, "Old script",
                                                          fixtures.KUMA_INACTIVE_API_KEY, False, now - 90 * 86400),
            }
            self.monitors: dict[int, Monitor] = {}
            for fx in fixtures.KUMA_MONITORS:
                monitor = Monitor(fx.id, fx.name, fx.type, fx.url or "https://", fx.hostname, fx.port, fx.active,
                                  fx.interval, list(fx.tags), fx.push_token, fx.cert_days_remaining, fx.base_ping_ms)
                self.monitors[fx.id] = monitor
                if fx.base_ping_ms is not None:
                    self._seed_history(monitor, fx, now)
            self.incident = dict(fixtures.KUMA_INCIDENT, createdDate=_kuma_date(now - 6 * 3600),
                                 lastUpdatedDate=_kuma_date(now - 5 * 3600))
            self.maintenance = dict(fixtures.KUMA_MAINTENANCE)
            self._maintenance_window = (now + 2 * 86400, now + 2 * 86400 + 3600)
        self.faults.clear()
        logger.info("Uptime Kuma simulator reset (version %s)", self.version)

    def _seed_history(self, monitor: Monitor, fx: fixtures.KumaMonitorFixture, now: float) -> None:
        count = fixtures.KUMA_HISTORY_BEATS
        previous: int | None = None
        for index in range(count):
            back = count - 1 - index  # 0 = newest
            status = STATUS_DOWN if back in fx.down_beats else STATUS_PENDING if back in fx.pending_beats else STATUS_UP
            when = now - 5 - back * monitor.interval
            self._append_beat(monitor, status, when, ping=self._ping(monitor, status), msg=None,
                              important=status != previous)
            previous = status

    def now(self) -> float:
        """Simulator time, epoch seconds (wall clock plus ``advance``)."""
        return time.time() + self._clock_offset

    def set_version(self, version: str) -> None:
        """Switch between ``"1.23"`` and ``"2.x"`` behaviour.

        Raises:
            ValueError: If the version is not known.
        """
        self._check_version(version)
        with self._lock:
            self.version = version
            self._cache.clear()
        logger.info("Uptime Kuma simulator now behaves as %s", version)

    def configure(self, **options: Any) -> dict[str, Any]:
        """Change run-time options (see the module docstring for the keys).

        Raises:
            ValueError: On unknown keys or bad values.
        """
        allowed = {"unknown_slug_hang_seconds", "page_cache_seconds", "heartbeat_cache_seconds",
                   "login_rate_limit", "first_info_delay_seconds"}
        unknown = set(options) - allowed
        if unknown:
            raise ValueError(f"unknown options: {sorted(unknown)}")
        with self._lock:
            for key, value in options.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise ValueError(f"{key} must be a number >= 0")
                setattr(self, key, int(value) if key == "login_rate_limit" else float(value))
            self._cache.clear()
            return {key: getattr(self, key) for key in sorted(allowed)}

    def set_api_keys_enabled(self, enabled: bool) -> None:
        """Whether ``/metrics`` takes API keys (True) or the admin's password (False)."""
        with self._lock:
            self.api_keys_enabled = bool(enabled)

    def set_faults(self, **config: Any) -> None:
        """Configure HTTP faults (see ``FaultInjector.set``)."""
        self.faults.set(**config)

    def clear_faults(self) -> None:
        """Remove every HTTP fault."""
        self.faults.clear()

    def override_response(self, path: str, body: str, *, status: int = 200, content_type: str = "text/plain",
                          times: int | None = None) -> None:
        """Answer requests to exactly ``path`` with ``body`` instead of the real handler.

        Args:
            path: Request path, e.g. ``/metrics``.
            body: Response body.
            status: HTTP status.
            content_type: Content-Type header.
            times: How many requests to answer this way (``None``: until cleared).

        Raises:
            ValueError: On a bad path, status or count.
        """
        if not path.startswith("/") or path.startswith("/__sim__"):
            raise ValueError("path must start with '/' and not be a /__sim__ path")
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
            raise ValueError("times must be >= 1 or null")
        with self._lock:
            self._overrides[path] = {"body": str(body), "status": status, "content_type": str(content_type),
                                     "remaining": times}

    def clear_overrides(self) -> None:
        """Remove every response override."""
        with self._lock:
            self._overrides.clear()

    def take_override(self, path: str) -> dict[str, Any] | None:
        """The override for ``path``, counting one use; None when there is none."""
        with self._lock:
            override = self._overrides.get(path)
            if override is None:
                return None
            if override["remaining"] is not None:
                override["remaining"] -= 1
                if override["remaining"] <= 0:
                    del self._overrides[path]
            return dict(override)

    # ---- monitors and beats ----------------------------------------------------------

    def monitor(self, monitor_id: int) -> Monitor:
        """A monitor by id.

        Raises:
            SimError: 404 when there is no such monitor.
        """
        monitor = self.monitors.get(int(monitor_id))
        if monitor is None:
            raise SimError(404, f"no monitor {monitor_id}")
        return monitor

    def _ping(self, monitor: Monitor, status: int) -> float | None:
        if status in (STATUS_DOWN, STATUS_PENDING) or monitor.type == "push":
            return None
        base = monitor.base_ping_ms or 20.0
        return round(max(0.1, self._rng.gauss(base, base * 0.15)), 3)

    def _default_msg(self, monitor: Monitor, status: int) -> str:
        if status == STATUS_MAINTENANCE:
            return "Monitor under maintenance"
        if status == STATUS_PENDING:
            return "timeout of 48000ms exceeded"
        if status == STATUS_DOWN:
            target = monitor.hostname or monitor.url
            return f"connect ECONNREFUSED {target}" if monitor.type != "push" else "No heartbeat in the time window"
        return "200 - OK" if monitor.type in ("http", "keyword") else ""

    def _append_beat(self, monitor: Monitor, status: int, when: float, *, ping: float | None,
                     msg: str | None, important: bool) -> Heartbeat:
        last = monitor.last
        down_count = (last.down_count + 1 if last and status == STATUS_DOWN and last.status == STATUS_DOWN
                      else 1 if status == STATUS_DOWN else 0)
        beat = Heartbeat(self._next_beat_id, monitor.id, status, when, ping,
                         self._default_msg(monitor, status) if msg is None else msg, important,
                         int(when - last.time) if last else 0, down_count)
        self._next_beat_id += 1
        monitor.beats.append(beat)
        return beat

    def _beat(self, monitor: Monitor, status: int, *, ping: float | None = None, msg: str | None = None,
              force_important: bool = False, when: float | None = None) -> Heartbeat:
        """Record a beat now, like a check finishing, and tell the sockets."""
        last = monitor.last
        important = force_important or last is None or last.status != status
        if ping is None:
            ping = self._ping(monitor, status)
        beat = self._append_beat(monitor, status, self.now() if when is None else when, ping=ping, msg=msg,
                                 important=important)
        if important:
            # Kuma clears its status-page cache on an important beat (§4.9).
            self._cache.clear()
        self._publish(self._beat_events(monitor, beat))
        return beat

    def set_status(self, monitor_id: int, status: str, *, ping: float | None = None,
                   msg: str | None = None) -> dict[str, Any]:
        """Flip a monitor: add an important beat now with this status.

        ``"maintenance"`` also puts the monitor under maintenance, so its later beats stay
        MAINTENANCE until it is flipped to another status.

        Args:
            monitor_id: The monitor.
            status: ``"down"``, ``"up"``, ``"pending"`` or ``"maintenance"``.
            ping: Response time in ms (default: none when down/pending, else typical).
            msg: Beat message (default: what Kuma would say).

        Returns:
            The live ``heartbeat`` payload that was pushed.

        Raises:
            SimError: 404 for an unknown monitor, 400 for a bad status or a paused monitor.
        """
        code = STATUS_CODES.get(str(status).lower())
        if code is None:
            raise SimError(400, f"status must be one of {sorted(STATUS_CODES)}")
        if ping is not None and (isinstance(ping, bool) or not isinstance(ping, (int, float)) or ping < 0):
            raise SimError(400, "ping must be a number >= 0")
        with self._lock:
            monitor = self.monitor(monitor_id)
            if not monitor.active:
                raise SimError(400, f"monitor {monitor_id} is paused")
            monitor.in_maintenance = code == STATUS_MAINTENANCE
            beat = self._beat(monitor, code, ping=ping, msg=msg, force_important=True)
            self._cache.clear()
            logger.info("monitor %s (%s) flipped to %s", monitor.id, monitor.name, STATUS_NAMES[code])
            return self._live_heartbeat(beat)

    def rename(self, monitor_id: int, name: str) -> None:
        """Rename a monitor as the admin would in Kuma's editor (names need not be unique).

        Like Kuma after an edit, 1.23 re-sends the whole ``monitorList`` and 2.x sends
        ``updateMonitorIntoList`` with just this monitor (§4.9).

        Raises:
            SimError: 404 for an unknown monitor, 400 for an empty name.
        """
        if not isinstance(name, str) or not name.strip():
            raise SimError(400, "name must be a non-empty string")
        with self._lock:
            monitor = self.monitor(monitor_id)
            monitor.name = name.strip()
            self._cache.clear()
            if self.version == "1.23":
                self._publish([("monitorList", self.monitor_list_payload())])
            else:
                self._publish([("updateMonitorIntoList", {str(monitor.id): self.monitor_json(monitor)})])

    def pause(self, monitor_id: int) -> None:
        """Pause a monitor: it stops beating and leaves ``/metrics``.

        Raises:
            SimError: 404 for an unknown monitor.
        """
        with self._lock:
            monitor = self.monitor(monitor_id)
            monitor.active = False
            self._cache.clear()
            self._publish([("monitorList", self.monitor_list_payload())])

    def resume(self, monitor_id: int) -> None:
        """Resume a monitor; like Kuma it checks (beats) at once.

        Raises:
            SimError: 404 for an unknown monitor.
        """
        with self._lock:
            monitor = self.monitor(monitor_id)
            if monitor.active:
                return
            monitor.active = True
            self._cache.clear()
            self._publish([("monitorList", self.monitor_list_payload())])
            if monitor.type != "push":
                self._beat(monitor, self._current_status(monitor))

    def _current_status(self, monitor: Monitor) -> int:
        if monitor.in_maintenance:
            return STATUS_MAINTENANCE
        return monitor.last.status if monitor.last else STATUS_UP

    def tick(self) -> int:
        """One regular check of every active (non-push) monitor, repeating its status.

        Returns:
            How many beats were added.
        """
        with self._lock:
            count = 0
            for monitor in self.monitors.values():
                if monitor.active and monitor.type != "push":
                    self._beat(monitor, self._current_status(monitor))
                    count += 1
            return count

    def advance(self, seconds: float) -> int:
        """Move the clock forward; active monitors beat once per elapsed interval.

        Args:
            seconds: How far to move (>= 0).

        Returns:
            How many beats were added.

        Raises:
            SimError: 400 for a negative value.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise SimError(400, "seconds must be a number >= 0")
        with self._lock:
            start = self.now()
            self._clock_offset += float(seconds)
            count = 0
            for monitor in self.monitors.values():
                if not monitor.active or monitor.type == "push":
                    continue
                steps = min(int(seconds // monitor.interval), 100)
                for step in range(1, steps + 1):
                    self._beat(monitor, self._current_status(monitor), when=start + step * monitor.interval)
                    count += 1
            self._expire_cache()
            return count

    def push(self, token: str, *, status: str | None = "up", msg: str | None = "OK",
             ping: str | float | None = None) -> None:
        """A push-monitor beat, as ``/api/push/{token}`` records it.

        Raises:
            SimError: 404 ``Monitor not found or not active.`` (or a bad 2.x ping).
        """
        with self._lock:
            monitor = next((m for m in self.monitors.values() if m.push_token == token and m.active), None)
            if monitor is None:
                raise SimError(404, "Monitor not found or not active.")
            try:
                ping_value = float(ping) if ping not in (None, "") else None
            except (TypeError, ValueError):
                ping_value = None
            if ping_value is not None and ping_value != ping_value:
                ping_value = None
            if self.version == "2.x" and ping_value is not None and not 0 <= ping_value <= 1e11:
                raise SimError(404, "Invalid ping value.")
            code = STATUS_UP if (status or "up") == "up" else STATUS_DOWN
            if monitor.in_maintenance:
                code = STATUS_MAINTENANCE
            self._beat(monitor, code, ping=ping_value, msg=msg if msg is not None else "OK")

    # ---- auth ------------------------------------------------------------------------

    def api_key_valid(self, presented: str | None) -> bool:
        """Whether ``presented`` is an active API key."""
        match = re.fullmatch(r"uk(\d+)_(.+)", presented or "")
        if not match:
            return False
        with self._lock:
            key = self.api_keys.get(int(match.group(1)))
            return bool(key and key.active and hmac.compare_digest(key.key, presented or ""))

    def metrics_auth_ok(self, username: str, password: str) -> bool:
        """Kuma's ``apiAuth``: API keys once one exists, else the admin's password."""
        with self._lock:
            if self.api_keys_enabled:
                return self.api_key_valid(password)
            return hmac.compare_digest(username, self.username) and hmac.compare_digest(password, self.password)

    @property
    def token(self) -> str:
        """The admin's login JWT (deterministic; changes only with the password)."""
        return _login_token(self.username, self.password)

    def login(self, data: Any) -> dict[str, Any]:
        """Answer a socket ``login`` (the ack payload)."""
        with self._lock:
            now = time.monotonic()
            while self._login_times and now - self._login_times[0] > _LOGIN_WINDOW_SECONDS:
                self._login_times.popleft()
            if len(self._login_times) >= self.login_rate_limit:
                return dict(_RATE_LIMITED)
            self._login_times.append(now)
            data = data if isinstance(data, dict) else {}
            username, password = data.get("username"), data.get("password")
            if (self.refuse_logins or not isinstance(username, str) or not isinstance(password, str)
                    or not hmac.compare_digest(username, self.username)
                    or not hmac.compare_digest(password, self.password)):
                logger.info("socket login refused for %r", username)
                return dict(_LOGIN_FAILED[self.version])
            return {"ok": True, "token": self.token}

    def login_by_token(self, token: Any) -> dict[str, Any]:
        """Answer a socket ``loginByToken`` (the ack payload)."""
        with self._lock:
            if self.refuse_logins or not isinstance(token, str) or not hmac.compare_digest(token, self.token):
                return dict(_TOKEN_FAILED[self.version])
            return {"ok": True}

    def refuse_socket_logins(self, refuse: bool = True) -> None:
        """Make every socket login (password or token) fail, to test the fallback."""
        with self._lock:
            self.refuse_logins = bool(refuse)

    def disconnect_all_sockets(self) -> int:
        """Drop every Socket.IO connection (clients may reconnect).

        Returns:
            How many connections were open.
        """
        hub = self._hub
        if hub is None or hub.loop is None or hub.loop.is_closed():
            return 0
        count = len(hub.sids)
        if _running_loop() is hub.loop:
            hub.spawn(hub.disconnect_all())
            return count
        future = asyncio.run_coroutine_threadsafe(hub.disconnect_all(), hub.loop)
        return future.result(timeout=5)

    # ---- statistics ------------------------------------------------------------------

    def _window(self, monitor: Monitor, seconds: float) -> list[Heartbeat]:
        since = self.now() - seconds
        return [b for b in monitor.beats if b.time >= since]

    def uptime(self, monitor: Monitor, hours: float) -> float:
        """Share of UP (or MAINTENANCE) beats in the last ``hours``; 0 without beats."""
        beats = self._window(monitor, hours * 3600)
        if not beats:
            return 0.0
        return sum(1 for b in beats if b.status in _UP_LIKE) / len(beats)

    def avg_ping(self, monitor: Monitor, hours: float = 24) -> float | None:
        """Average ping (ms) of the beats in the last ``hours`` that have one."""
        pings = [b.ping for b in self._window(monitor, hours * 3600) if b.ping is not None]
        return sum(pings) / len(pings) if pings else None

    # ---- payloads: sockets -----------------------------------------------------------

    def _tag_ids(self) -> dict[str, int]:
        names = sorted({name for m in self.monitors.values() for name, _ in m.tags})
        return {name: index for index, name in enumerate(names, start=1)}

    def _tags_json(self, monitor: Monitor) -> list[dict[str, Any]]:
        ids = self._tag_ids()
        return [{"id": monitor.id * 10 + i, "monitor_id": monitor.id, "tag_id": ids[name], "value": value,
                 "name": name, "color": fixtures.KUMA_TAG_COLORS.get(name, "#4B5563")}
                for i, (name, value) in enumerate(monitor.tags)]

    def monitor_json(self, monitor: Monitor) -> dict[str, Any]:
        """One entry of ``monitorList`` for the current version."""
        data: dict[str, Any] = {
            "id": monitor.id, "name": monitor.name, "pathName": monitor.name, "parent": None,
            "childrenIDs": [], "url": monitor.url, "method": "GET", "hostname": monitor.hostname,
            "port": monitor.port, "maxretries": 0, "weight": 2000, "active": monitor.active,
            "type": monitor.type, "interval": monitor.interval, "retryInterval": monitor.interval,
            "resendInterval": 0, "keyword": None, "invertKeyword": False, "expiryNotification": False,
            "ignoreTls": False, "upsideDown": False, "packetSize": 56, "maxredirects": 10,
            "accepted_statuscodes": ["200-299"], "dns_resolve_type": "A", "dns_resolve_server": "1.1.1.1",
            "dns_last_result": None, "docker_container": "", "docker_host": None, "proxyId": None,
            "notificationIDList": {}, "tags": self._tags_json(monitor), "maintenance": monitor.in_maintenance,
            "pushToken": monitor.push_token, "includeSensitiveData": True,
        }
        if self.version == "2.x":
            data.update(description=None, path=[monitor.name], forceInactive=False, conditions=[])
        return data

    def monitor_list_payload(self) -> dict[str, Any]:
        """``monitorList``: keyed by the id as a string."""
        with self._lock:
            return {str(m.id): self.monitor_json(m) for m in self.monitors.values()}

    def info_payload(self, *, logged_in: bool) -> dict[str, Any]:
        """``info``: versions only after login."""
        data: dict[str, Any] = {"primaryBaseURL": None, "serverTimezone": "UTC", "serverTimezoneOffset": "+00:00"}
        if logged_in:
            release = fixtures.KUMA_VERSIONS[self.version]
            data.update(version=release, latestVersion=release, isContainer=True)
            if self.version == "2.x":
                data.update(dbType="sqlite", runtime={"platform": "linux", "arch": "x64"})
        return data

    def _row(self, beat: Heartbeat) -> dict[str, Any]:
        """A raw heartbeat row (snake_case, ``important`` as 0/1)."""
        row: dict[str, Any] = {
            "id": beat.id, "important": int(beat.important), "monitor_id": beat.monitor_id,
            "status": beat.status, "msg": beat.msg, "time": kuma_time(beat.time),
            "ping": None if beat.ping is None else (round(beat.ping, 3) if self.version == "2.x" else int(beat.ping)),
            "duration": beat.duration, "down_count": beat.down_count,
        }
        if self.version == "2.x":
            row.update(end_time=kuma_time(beat.time), retries=beat.retries, response=None)
        return row

    def _live_heartbeat(self, beat: Heartbeat) -> dict[str, Any]:
        """The live ``heartbeat`` event (camelCase, ``monitorID`` an int)."""
        data: dict[str, Any] = {
            "monitorID": beat.monitor_id, "status": beat.status, "time": kuma_time(beat.time), "msg": beat.msg,
            "ping": None if beat.ping is None else (round(beat.ping, 3) if self.version == "2.x" else int(beat.ping)),
            "important": beat.important, "duration": beat.duration,
        }
        if self.version == "2.x":
            data.update(retries=beat.retries, response=None)
        return data

    def _stats_events(self, monitor: Monitor) -> list[tuple[str, Any]]:
        key = str(monitor.id)
        avg = self.avg_ping(monitor)
        if avg is not None:
            avg = round(avg, 2) if self.version == "2.x" else int(avg)
        events: list[tuple[str, Any]] = [
            ("avgPing", (key, avg)),
            ("uptime", (key, 24, self.uptime(monitor, 24))),
            ("uptime", (key, 720, self.uptime(monitor, 720))),
        ]
        if self.version == "2.x":
            events.append(("uptime", (key, "1y", self.uptime(monitor, 365 * 24))))
        if monitor.cert_days_remaining is not None:
            events.append(("certInfo", (key, json.dumps(self._cert_info(monitor)))))
        return events

    def _cert_info(self, monitor: Monitor) -> dict[str, Any]:
        days = monitor.cert_days_remaining or 0
        host = re.sub(r"^https?://([^/:]+).*$", r"\1", monitor.url)
        return {"valid": True, "certInfo": {"subject": {"CN": host}, "issuer": {"CN": "R11", "O": "Let's Encrypt"},
                                            "daysRemaining": days, "validTo": _kuma_date(self.now() + days * 86400)}}

    def _beat_events(self, monitor: Monitor, beat: Heartbeat) -> list[tuple[str, Any]]:
        return [("heartbeat", self._live_heartbeat(beat)), *self._stats_events(monitor)]

    def after_login_events(self) -> list[tuple[str, Any]]:
        """Everything Kuma pushes after a login (``afterLogin``), in order."""
        with self._lock:
            events: list[tuple[str, Any]] = [
                ("monitorList", self.monitor_list_payload()),
                ("info", self.info_payload(logged_in=True)),
                ("maintenanceList", self.maintenance_list_payload()),
                ("notificationList", []),
                ("proxyList", []),
                ("dockerHostList", []),
                ("apiKeyList", [self._api_key_json(k) for k in self.api_keys.values()]),
            ]
            if self.version == "2.x":
                events += [("remoteBrowserList", []),
                           ("monitorTypeList", {"http": {"sslValidation": True}, "push": {}, "port": {}, "ping": {}})]
            events.append(("statusPageList", self.status_page_list_payload()))
            for monitor in self.monitors.values():
                key = str(monitor.id)
                events.append(("heartbeatList", (key, [self._row(b) for b in list(monitor.beats)[-100:]], True)))
                if self.version == "1.23":
                    important = [b for b in monitor.beats if b.important][-500:]
                    events.append(("importantHeartbeatList", (key, [
                        {"monitorID": b.monitor_id, "status": b.status, "time": kuma_time(b.time), "msg": b.msg,
                         "ping": None if b.ping is None else int(b.ping), "important": True,
                         "duration": b.duration} for b in reversed(important)], True)))
                events.extend(self._stats_events(monitor))
            return events

    def monitor_beats(self, monitor_id: Any, period_hours: Any) -> dict[str, Any]:
        """``getMonitorBeats`` answer."""
        with self._lock:
            try:
                monitor = self.monitor(int(monitor_id))
                hours = float(period_hours)
            except (SimError, TypeError, ValueError):
                return {"ok": False, "msg": "Monitor not found"}
            return {"ok": True, "data": [self._row(b) for b in self._window(monitor, hours * 3600)]}

    def _api_key_json(self, key: ApiKey) -> dict[str, Any]:
        return {"id": key.id, "name": key.name, "userID": 1, "createdDate": _kuma_date(key.created),
                "active": key.active, "expires": None, "status": "active" if key.active else "inactive"}

    def maintenance_list_payload(self) -> dict[str, Any]:
        """``maintenanceList``: keyed by id."""
        start, end = self._maintenance_window
        item = dict(self.maintenance, timeslotList=[{"startDate": _kuma_date(start), "endDate": _kuma_date(end)}],
                    dateRange=[_kuma_date(start), _kuma_date(end)], intervalDay=1, weekdays=[], daysOfMonth=[],
                    timezone="UTC", timezoneOption="SAME_AS_SERVER", timezoneOffset="+00:00")
        return {str(item["id"]): item}

    # ---- payloads: status pages ------------------------------------------------------

    def _page_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "slug": fixtures.KUMA_STATUS_PAGE_SLUG, "title": fixtures.KUMA_STATUS_PAGE_TITLE,
            "description": "Is it us or is it you?", "icon": "/icon.svg", "theme": "auto", "published": True,
            "showTags": True, "domainNameList": [], "customCSS": "body {\n  \n}\n", "footerText": None,
            "showPoweredBy": True, "showCertificateExpiry": True,
        }
        if self.version == "2.x":
            config.update(autoRefreshInterval=300, analyticsId=None, analyticsScriptUrl=None, analyticsType=None,
                          showOnlyLastHeartbeat=False, rssTitle=None)
        else:
            config["googleAnalyticsId"] = None
        return config

    def status_page_list_payload(self) -> dict[str, Any]:
        """``statusPageList``: keyed by id."""
        config = self._page_config()
        return {"1": {"id": 1, **config}}

    def _public_monitors(self) -> list[Monitor]:
        # The group was filled when the fixtures were loaded: every monitor active then.
        ids = [fx.id for fx in fixtures.KUMA_MONITORS if fx.active]
        return [self.monitors[i] for i in ids if i in self.monitors]

    def _find_slug(self, slug: str) -> str | None:
        wanted = slug.lower() if self.version == "2.x" else slug
        return wanted if wanted == fixtures.KUMA_STATUS_PAGE_SLUG else None

    def _expire_cache(self) -> None:
        now = self.now()
        for key in [k for k, (expires, _) in self._cache.items() if expires <= now]:
            del self._cache[key]

    def _cached(self, kind: str, slug: str, ttl: float, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        self._expire_cache()
        key = (kind, self.version, slug)
        hit = self._cache.get(key)
        if hit is not None:
            return hit[1]
        payload = build()
        if ttl > 0:
            self._cache[key] = (self.now() + ttl, payload)
        return payload

    def status_page(self, slug: str) -> dict[str, Any] | None:
        """``/api/status-page/{slug}`` payload (served from a cache), or None for an unknown slug."""
        with self._lock:
            found = self._find_slug(slug)
            if found is None:
                return None
            return self._cached("page", found, self.page_cache_seconds, self._build_status_page)

    def _build_status_page(self) -> dict[str, Any]:
        config = self._page_config()
        monitors = []
        for monitor in self._public_monitors():
            entry: dict[str, Any] = {"id": monitor.id, "name": monitor.name, "sendUrl": 0, "type": monitor.type}
            if config["showTags"]:
                entry["tags"] = self._tags_json(monitor)
            if config["showCertificateExpiry"] and monitor.cert_days_remaining is not None:
                entry.update(certExpiryDaysRemaining=monitor.cert_days_remaining, validCert=True)
            monitors.append(entry)
        incident = dict(self.incident)
        payload: dict[str, Any] = {"config": config}
        if self.version == "2.x":
            payload["incidents"] = [incident]
        else:
            payload["incident"] = incident
        payload["publicGroupList"] = [{"id": 1, "name": "Services", "weight": 1, "monitorList": monitors}]
        payload["maintenanceList"] = []
        return payload

    def status_page_heartbeats(self, slug: str) -> dict[str, Any]:
        """``/api/status-page/heartbeat/{slug}`` payload (empty objects for an unknown slug)."""
        with self._lock:
            found = self._find_slug(slug)
            if found is None:
                return {"heartbeatList": {}, "uptimeList": {}}
            return self._cached("heartbeat", found, self.heartbeat_cache_seconds, self._build_heartbeats)

    def _build_heartbeats(self) -> dict[str, Any]:
        count = 50 if self.version == "1.23" else 100
        beats: dict[str, Any] = {}
        uptime: dict[str, float] = {}
        for monitor in self._public_monitors():
            rows = list(monitor.beats)[-count:]
            beats[str(monitor.id)] = [{"status": b.status, "time": kuma_time(b.time), "msg": "",
                                       "ping": None if b.ping is None else (
                                           round(b.ping, 3) if self.version == "2.x" else int(b.ping))}
                                      for b in rows]
            if rows:
                uptime[f"{monitor.id}_24"] = self.uptime(monitor, 24)
        return {"heartbeatList": beats, "uptimeList": uptime}

    # ---- payloads: metrics -----------------------------------------------------------

    def metrics_text(self) -> str:
        """The Prometheus text of ``/metrics`` for the current version."""
        with self._lock:
            v2 = self.version == "2.x"
            uptime_s = time.time() - self.started_at
            lines = [
                "# HELP process_cpu_user_seconds_total Total user CPU time spent in seconds.",
                "# TYPE process_cpu_user_seconds_total counter",
                f"process_cpu_user_seconds_total {round(3.2 + uptime_s / 1000, 6)}",
                "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.",
                "# TYPE process_start_time_seconds gauge",
                f"process_start_time_seconds {int(self.started_at)}",
                "# HELP nodejs_eventloop_lag_seconds Lag of event loop in seconds.",
                "# TYPE nodejs_eventloop_lag_seconds gauge",
                "nodejs_eventloop_lag_seconds 0.004216",
                "",
            ]
            gauges: dict[str, list[str]] = {name: [] for name in (
                "monitor_cert_days_remaining", "monitor_cert_is_valid", "monitor_response_time", "monitor_status",
                "monitor_uptime_ratio", "monitor_response_time_seconds")}
            for monitor in self.monitors.values():
                last = monitor.last
                if not monitor.active or last is None:
                    continue
                labels = [("monitor_name", monitor.name), ("monitor_type", monitor.type),
                          ("monitor_url", monitor.url), ("monitor_hostname", monitor.hostname),
                          ("monitor_port", monitor.port)]
                if v2:
                    labels.insert(0, ("monitor_id", monitor.id))
                    labels += [(_tag_label_name(name), value) for name, value in monitor.tags]
                rendered = ",".join(f'{k}="{_prom_label(v)}"' for k, v in labels)
                if monitor.cert_days_remaining is not None:
                    gauges["monitor_cert_days_remaining"].append(
                        f"monitor_cert_days_remaining{{{rendered}}} {monitor.cert_days_remaining}")
                    gauges["monitor_cert_is_valid"].append(f"monitor_cert_is_valid{{{rendered}}} 1")
                ping = -1 if last.ping is None else last.ping
                gauges["monitor_response_time"].append(f"monitor_response_time{{{rendered}}} {_prom_value(ping)}")
                gauges["monitor_status"].append(f"monitor_status{{{rendered}}} {last.status}")
                if v2:
                    for window, hours in (("1d", 24), ("30d", 720), ("365d", 365 * 24)):
                        gauges["monitor_uptime_ratio"].append(
                            f'monitor_uptime_ratio{{{rendered},window="{window}"}} '
                            f"{_prom_value(round(self.uptime(monitor, hours), 6))}")
                        avg = self.avg_ping(monitor, hours)
                        gauges["monitor_response_time_seconds"].append(
                            f'monitor_response_time_seconds{{{rendered},window="{window}"}} '
                            f"{_prom_value(round((avg or 0) / 1000, 6))}")
            helps = {
                "monitor_cert_days_remaining": "The number of days remaining until the certificate expires",
                "monitor_cert_is_valid": "Is the certificate still valid? (1 = Yes, 0= No)",
                "monitor_response_time": "Monitor Response Time (ms)",
                "monitor_status": "Monitor Status (1 = UP, 0= DOWN, 2= PENDING, 3= MAINTENANCE)",
                "monitor_uptime_ratio": "Uptime ratio of the monitor over a time window (0-1)",
                "monitor_response_time_seconds": "Average response time of the monitor over a time window (s)",
            }
            for name, samples in gauges.items():
                if name in ("monitor_uptime_ratio", "monitor_response_time_seconds") and not v2:
                    continue
                lines += [f"# HELP {name} {helps[name]}", f"# TYPE {name} gauge", *samples, ""]
            lines += [
                "# HELP http_request_duration_seconds Duration of HTTP requests in seconds",
                "# TYPE http_request_duration_seconds histogram",
                'http_request_duration_seconds_bucket{le="0.1",route="/metrics",method="GET",status="200"} 3',
                'http_request_duration_seconds_bucket{le="+Inf",route="/metrics",method="GET",status="200"} 3',
                'http_request_duration_seconds_sum{route="/metrics",method="GET",status="200"} 0.021',
                'http_request_duration_seconds_count{route="/metrics",method="GET",status="200"} 3',
                "",
            ]
            return "\n".join(lines)

    # ---- inspection ------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """A JSON-ready summary for ``GET /__sim__/state``."""
        with self._lock:
            hub = self._hub
            return {
                "version": self.version,
                "release": fixtures.KUMA_VERSIONS[self.version],
                "clock_offset": self._clock_offset,
                "api_keys_enabled": self.api_keys_enabled,
                "refuse_logins": self.refuse_logins,
                "unknown_slug_hang_seconds": self.unknown_slug_hang_seconds,
                "sockets": len(hub.sids) if hub else 0,
                "logged_in_sockets": len(hub.logged_in) if hub else 0,
                "faults": self.faults.snapshot(),
                "overrides": sorted(self._overrides),
                "monitors": [{
                    "id": m.id, "name": m.name, "type": m.type, "active": m.active,
                    "in_maintenance": m.in_maintenance, "beats": len(m.beats),
                    "status": STATUS_NAMES[m.last.status] if m.last else None,
                    "last_beat": kuma_time(m.last.time) if m.last else None,
                } for m in self.monitors.values()],
            }

    # ---- socket plumbing -------------------------------------------------------------

    def _publish(self, events: list[tuple[str, Any]]) -> None:
        hub = self._hub
        if hub is not None:
            hub.send(events)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _SocketHub:
    """The Socket.IO server's connections, and a way to emit to them from any thread."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sids: set[str] = set()
        self.greeted: set[str] = set()  # connections whose handlers are registered
        self.logged_in: set[str] = set()
        self._order: asyncio.Lock | None = None
        self._tasks: set[asyncio.Future[Any]] = set()

    def bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            self.loop = loop
            self._order = asyncio.Lock()

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def send(self, events: list[tuple[str, Any]], to: str = _ROOM) -> None:
        """Emit ``events`` in order, after any earlier ones (callable from any thread)."""
        loop = self.loop
        if loop is None or loop.is_closed() or not self.logged_in:
            return
        if _running_loop() is loop:
            self.spawn(self.emit_all(events, to))
        else:
            asyncio.run_coroutine_threadsafe(self.emit_all(events, to), loop)

    async def emit_all(self, events: Iterable[tuple[str, Any]], to: str) -> None:
        assert self._order is not None
        async with self._order:  # FIFO: bursts never interleave
            for event, data in events:
                await self.sio.emit(event, data, to=to)

    async def disconnect_all(self) -> int:
        sids = list(self.sids)
        for sid in sids:
            await self.sio.disconnect(sid)
        logger.info("dropped %d socket connection(s)", len(sids))
        return len(sids)


# --------------------------------------------------------------------------------------
# The ASGI app
# --------------------------------------------------------------------------------------

Handler = Callable[[Request], Awaitable[Response]]


def _hook(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except SimError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    wrapped.__name__ = handler.__name__
    return wrapped


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


class _Overrides:
    """Serve ``KumaSim.override_response`` bodies in place of the real handlers."""

    def __init__(self, app: Any, sim: KumaSim) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            override = self.sim.take_override(scope.get("path", ""))
            if override is not None:
                response = Response(override["body"], status_code=override["status"],
                                    media_type=override["content_type"])
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_kuma_app(sim: KumaSim) -> Any:
    """Build the simulator's ASGI app: HTTP routes with faults, and Socket.IO at ``/socket.io/``.

    Args:
        sim: The state to serve.

    Returns:
        An ASGI application.
    """
    sio = socketio.AsyncServer(async_mode="asgi", always_connect=True, logger=False, engineio_logger=False)
    hub = _SocketHub(sio)
    sim._hub = hub

    # ---- Socket.IO -------------------------------------------------------------------

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        hub.bind_loop()
        hub.sids.add(sid)
        if sim.version == "2.x":
            hub.spawn(greet_later(sid, sim.first_info_delay_seconds))
            return
        hub.greeted.add(sid)  # 1.23 registers its handlers before sending anything
        await sio.emit("info", sim.info_payload(logged_in=False), to=sid)

    async def greet_later(sid: str, delay: float) -> None:
        # 2.x: ``await sendInfo(socket)`` comes first, the handlers are registered after it.
        await asyncio.sleep(delay)
        if sid in hub.sids:
            await sio.emit("info", sim.info_payload(logged_in=False), to=sid)
            hub.greeted.add(sid)

    @sio.event
    async def disconnect(sid: str, *_: Any) -> None:
        hub.sids.discard(sid)
        hub.greeted.discard(sid)
        hub.logged_in.discard(sid)

    async def after_login(sid: str) -> None:
        hub.logged_in.add(sid)
        await sio.enter_room(sid, _ROOM)
        await hub.emit_all(sim.after_login_events(), to=sid)

    @sio.on("login")
    async def login(sid: str, data: Any = None, *_: Any) -> Any:
        if sid not in hub.greeted:
            return sio.not_handled  # no handler yet: no answer at all
        ack = sim.login(data)
        if ack.get("ok"):
            hub.spawn(after_login(sid))
        return ack

    @sio.on("loginByToken")
    async def login_by_token(sid: str, token: Any = None, *_: Any) -> Any:
        if sid not in hub.greeted:
            return sio.not_handled
        ack = sim.login_by_token(token)
        if ack.get("ok"):
            hub.spawn(after_login(sid))
        return ack

    @sio.on("getMonitorList")
    async def get_monitor_list(sid: str, *_: Any) -> Any:
        if sid not in hub.greeted:
            return sio.not_handled
        if sid not in hub.logged_in:
            return dict(_NOT_LOGGED_IN)
        await hub.emit_all([("monitorList", sim.monitor_list_payload())], to=sid)
        return {"ok": True}

    @sio.on("getMonitorBeats")
    async def get_monitor_beats(sid: str, monitor_id: Any = None, period: Any = None, *_: Any) -> Any:
        if sid not in hub.greeted:
            return sio.not_handled
        if sid not in hub.logged_in:
            return dict(_NOT_LOGGED_IN)
        return sim.monitor_beats(monitor_id, period)

    # ---- HTTP ------------------------------------------------------------------------

    async def metrics(request: Request) -> Response:
        credentials = _basic_credentials(request)
        if credentials is None or not sim.metrics_auth_ok(*credentials):
            return PlainTextResponse("", status_code=401,
                                     headers={"WWW-Authenticate": 'Basic realm="Authorization Required"'})
        return PlainTextResponse(sim.metrics_text(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def status_page(request: Request) -> Response:
        slug = request.path_params["slug"]
        payload = sim.status_page(slug)
        if payload is not None:
            return JSONResponse(payload)
        if sim.version == "2.x":
            return JSONResponse({"status": "fail", "msg": "Status Page Not Found"}, status_code=404)
        # 1.23 returns from the handler without answering: the request hangs.
        deadline = time.monotonic() + sim.unknown_slug_hang_seconds
        while time.monotonic() < deadline and not sim._stopping.is_set():
            if await request.is_disconnected():
                return Response(status_code=499)  # nobody is listening any more
            await asyncio.sleep(0.05)
        return Response(status_code=408)

    async def status_page_heartbeat(request: Request) -> Response:
        return JSONResponse(sim.status_page_heartbeats(request.path_params["slug"]))

    async def push(request: Request) -> Response:
        token = request.path_params["token"]
        if sim.version == "1.23" and request.method != "GET":
            # Express answers methods without a route with its default 404 page.
            return HTMLResponse(f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                                f"<title>Error</title>\n</head>\n<body>\n<pre>Cannot {request.method} "
                                f"/api/push/{token}</pre>\n</body>\n</html>\n", status_code=404)
        query = request.query_params
        try:
            sim.push(token, status=query.get("status"), msg=query.get("msg"), ping=query.get("ping"))
        except SimError as exc:
            return JSONResponse({"ok": False, "msg": exc.message}, status_code=404)
        return JSONResponse({"ok": True})

    async def hook_status(request: Request) -> Response:
        data = await _json_body(request)
        payload = sim.set_status(request.path_params["monitor_id"], str(data.get("status", "")),
                                 ping=data.get("ping"), msg=data.get("msg"))
        return JSONResponse({"heartbeat": payload})

    async def hook_rename(request: Request) -> Response:
        data = await _json_body(request)
        sim.rename(request.path_params["monitor_id"], data.get("name"))
        return JSONResponse({"ok": True})

    async def hook_pause(request: Request) -> Response:
        sim.pause(request.path_params["monitor_id"])
        return JSONResponse({"ok": True})

    async def hook_resume(request: Request) -> Response:
        sim.resume(request.path_params["monitor_id"])
        return JSONResponse({"ok": True})

    async def hook_version(request: Request) -> Response:
        data = await _json_body(request)
        sim.set_version(str(data.get("version", "")))
        return JSONResponse({"version": sim.version})

    async def hook_advance(request: Request) -> Response:
        data = await _json_body(request)
        beats = sim.advance(data.get("seconds", 0))
        return JSONResponse({"beats": beats})

    async def hook_config(request: Request) -> Response:
        return JSONResponse(sim.configure(**await _json_body(request)))

    async def hook_api_keys(request: Request) -> Response:
        data = await _json_body(request)
        sim.set_api_keys_enabled(bool(data.get("enabled", True)))
        return JSONResponse({"enabled": sim.api_keys_enabled})

    async def hook_disconnect_all(_: Request) -> Response:
        return JSONResponse({"disconnected": await hub.disconnect_all()})

    async def hook_refuse_logins(request: Request) -> Response:
        data = await _json_body(request)
        sim.refuse_socket_logins(bool(data.get("refuse", True)))
        return JSONResponse({"refuse": sim.refuse_logins})

    async def hook_override(request: Request) -> Response:
        if request.method == "DELETE":
            sim.clear_overrides()
            return JSONResponse({"overrides": []})
        data = await _json_body(request)
        unknown = set(data) - {"path", "body", "status", "content_type", "times"}
        if unknown:
            raise SimError(400, f"unknown keys: {sorted(unknown)}")
        sim.override_response(str(data.get("path", "")), str(data.get("body", "")),
                              status=data.get("status", 200), content_type=str(data.get("content_type", "text/plain")),
                              times=data.get("times"))
        return JSONResponse({"overrides": sim.state()["overrides"]})

    async def hook_state(_: Request) -> Response:
        return JSONResponse(sim.state())

    async def hook_reset(_: Request) -> Response:
        sim.reset()
        return JSONResponse({"reset": True, "state": sim.state()})

    routes = [
        Route("/metrics", metrics, methods=["GET"]),
        Route("/api/status-page/heartbeat/{slug}", status_page_heartbeat, methods=["GET"]),
        Route("/api/status-page/{slug}", status_page, methods=["GET"]),
        Route("/api/push/{token}", push, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/__sim__/monitors/{monitor_id:int}/status", _hook(hook_status), methods=["POST"]),
        Route("/__sim__/monitors/{monitor_id:int}/rename", _hook(hook_rename), methods=["POST"]),
        Route("/__sim__/monitors/{monitor_id:int}/pause", _hook(hook_pause), methods=["POST"]),
        Route("/__sim__/monitors/{monitor_id:int}/resume", _hook(hook_resume), methods=["POST"]),
        Route("/__sim__/version", _hook(hook_version), methods=["POST"]),
        Route("/__sim__/advance", _hook(hook_advance), methods=["POST"]),
        Route("/__sim__/config", _hook(hook_config), methods=["POST"]),
        Route("/__sim__/api-keys", _hook(hook_api_keys), methods=["POST"]),
        Route("/__sim__/socket/disconnect-all", _hook(hook_disconnect_all), methods=["POST"]),
        Route("/__sim__/socket/refuse-logins", _hook(hook_refuse_logins), methods=["POST"]),
        Route("/__sim__/override", _hook(hook_override), methods=["POST", "DELETE"]),
        Route("/__sim__/state", hook_state, methods=["GET"]),
        Route("/__sim__/reset", hook_reset, methods=["POST"]),
    ]
    http_app = Starlette(routes=routes, middleware=[Middleware(FaultsMiddleware, injector=sim.faults),
                                                    Middleware(_Overrides, sim=sim)])
    return socketio.ASGIApp(sio, other_asgi_app=http_app, socketio_path="socket.io")


# --------------------------------------------------------------------------------------
# Serving
# --------------------------------------------------------------------------------------


class KumaStack(SingleAppStack):
    """The simulator bound to a socket (port 0 picks a free one), ready to be served in an event
    loop; options go to ``KumaSim`` (``version``, ``auto_beat_seconds`` …)."""

    sim_class = KumaSim
    app_factory = staticmethod(create_kuma_app)

    def request_exit(self) -> None:
        """Ask the server to stop; a second call forces it."""
        self.sim.clear_faults()
        self.sim.clear_overrides()
        self.sim._stopping.set()  # releases held 1.23 unknown-slug requests
        hub = self.sim._hub
        if hub is not None and hub.loop is not None and not hub.loop.is_closed():
            try:
                if _running_loop() is hub.loop:
                    hub.spawn(hub.disconnect_all())
                else:
                    asyncio.run_coroutine_threadsafe(hub.disconnect_all(), hub.loop)
            except RuntimeError:  # the loop is shutting down already
                pass
        self._stop_server()

    async def serve(self) -> None:
        """Serve until ``request_exit()``; runs the demo ticker when configured."""
        self.sim._stopping.clear()
        ticker = asyncio.ensure_future(self._tick()) if self.sim.auto_beat_seconds else None
        try:
            await self._server.serve(sockets=[self._sock])
        finally:
            if ticker is not None:
                ticker.cancel()

    async def _tick(self) -> None:
        interval = float(self.sim.auto_beat_seconds or 0)
        while interval > 0:
            await asyncio.sleep(interval)
            self.sim.tick()


@dataclass
class KumaHandle(ThreadHandle):
    """A running Uptime Kuma simulator (see ``serve_kuma_in_thread``)."""

    sim: KumaSim
    url: str
    _runner: ServerThread


def serve_kuma_in_thread(host: str = "127.0.0.1", port: int = 0, **opts: Any) -> KumaHandle:
    """Serve the simulator with uvicorn in a daemon thread.

    Args:
        host: Interface to bind.
        port: Port (0 picks a free one).
        **opts: ``log_level``, ``advertise_host`` and any ``KumaSim`` keyword
            (``version``, ``unknown_slug_hang_seconds``, ``auto_beat_seconds`` …).

    Returns:
        A handle with ``.sim``, ``.url`` and ``.stop()``.

    Raises:
        RuntimeError: If the server does not start within 10 seconds.
    """
    stack = KumaStack(host, port, **opts)
    runner = ServerThread("kuma-simulator", stack.serve, started=lambda: stack.started,
                          request_exit=stack.request_exit)
    logger.info("Uptime Kuma simulator on %s", stack.url)
    return KumaHandle(stack.sim, stack.url, runner)


__all__ = [
    "ApiKey", "Heartbeat", "KumaHandle", "KumaSim", "KumaStack", "Monitor", "STATUS_CODES", "VERSIONS",
    "create_kuma_app", "kuma_time", "serve_kuma_in_thread",
]
