"""The Uptime Kuma simulator's state: options, clock, response overrides, monitors and their
heartbeat rings, statistics and the status-page cache.

``KumaState`` is the base of ``KumaSim``; the rest lives in ``monitors`` (checks and test
flips), ``auth`` (logins, API keys), ``payloads`` (socket events), ``status_pages`` and ``metrics``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from medianest.simulators import fixtures
from medianest.simulators.faults import FaultInjector
from medianest.simulators.plex import SimError
from medianest.simulators.uptime_kuma.hub import SocketHub
from medianest.simulators.uptime_kuma.model import (
    _UP_LIKE,
    STATUS_DOWN,
    STATUS_MAINTENANCE,
    STATUS_NAMES,
    STATUS_PENDING,
    STATUS_UP,
    VERSIONS,
    ApiKey,
    Heartbeat,
    Monitor,
    _kuma_date,
    kuma_time,
)

logger = logging.getLogger(__name__)


class KumaState:
    """The state of ``KumaSim`` and what every part of it shares: options, clock, overrides,
    heartbeats, statistics, the status-page cache and the socket hub (thread-safe)."""

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
        self._hub: SocketHub | None = None
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

    def _current_status(self, monitor: Monitor) -> int:
        if monitor.in_maintenance:
            return STATUS_MAINTENANCE
        return monitor.last.status if monitor.last else STATUS_UP

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

    # ---- status-page cache ----------------------------------------------------------

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
