"""Uptime Kuma (1.23.x and 2.x): monitor states from ``/metrics``, history from a public
status page, and an optional live Socket.IO feed (see ``shared/docs/integrations.md`` §4).

``/metrics`` is the preferred source (§4.7): plain HTTP with an API key, same metric names
in both versions, every monitor. The status page gives the 24 h sparkline and uptime of the
monitors the admin published. The Socket.IO connection is an internal API that needs the
admin's password; use it only for a live view and fall back to polling ``/metrics`` when
``KumaLiveConnection.run()`` raises ``KumaLoginRefused``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pybreaker
import socketio

from ..errors import IntegrationRejected, IntegrationUnavailable
from .base import BaseClient

logger = logging.getLogger(__name__)

SERVICE = "Uptime Kuma"
STATUS_NAMES = {0: "down", 1: "up", 2: "pending", 3: "maintenance"}
UNKNOWN = "unknown"

_KNOWN_LABELS = frozenset({"monitor_id", "monitor_name", "monitor_type", "monitor_url", "monitor_hostname",
                           "monitor_port", "window"})
_NULLISH = frozenset({"", "null", "undefined", "none"})
#: Kuma's form keeps "https://" in ``url`` for monitors that are not http.
_EMPTY_URLS = frozenset({"http://", "https://"})


# --------------------------------------------------------------------------------------
# Typed results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitorState:
    """One monitor's current state.

    ``key`` is the monitor id (as a string) when Kuma reports it (2.x, sockets), else the
    monitor name (1.23 ``/metrics``). ``status`` is ``"up"``, ``"down"``, ``"pending"``,
    ``"maintenance"`` or ``"unknown"``.
    """

    key: str
    monitor_id: int | None
    name: str
    type: str
    url: str | None
    status: str
    response_time_ms: float | None
    uptime_24h: float | None
    uptime_30d: float | None
    hostname: str | None = None
    port: int | None = None
    active: bool = True
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Beat:
    """One heartbeat: ``time`` is UTC-aware; ``ping_ms`` is None when there was no answer."""

    time: datetime
    status: str
    ping_ms: float | None
    msg: str = ""
    important: bool = False


@dataclass(frozen=True)
class MonitorHistory:
    """A published monitor with its recent beats (oldest first) and 24 h uptime (0..1)."""

    monitor_id: int
    name: str
    beats: list[Beat]
    uptime_24h: float | None
    type: str | None = None


@dataclass(frozen=True)
class LiveEvent:
    """Something the live connection learnt, already normalised across versions.

    Kinds:
        ``connected``: logged in (``server_version`` once known).
        ``disconnected``: the connection dropped (``error`` says why when it will not retry).
        ``monitors``: the monitor list changed (``monitors``).
        ``heartbeat``: a beat of ``monitor_id``; ``initial=True`` for the history sent after
            login (``beats`` holds all of it, ``status``/``ping_ms``/``time`` the newest).
        ``stats``: ``avg_ping_ms``/``uptime_*`` of ``monitor_id`` (every value known so far).
    """

    kind: str
    monitor_id: int | None = None
    status: str | None = None
    ping_ms: float | None = None
    time: datetime | None = None
    msg: str | None = None
    important: bool = False
    initial: bool = False
    beats: tuple[Beat, ...] = ()
    monitors: tuple[MonitorState, ...] = ()
    avg_ping_ms: float | None = None
    uptime_24h: float | None = None
    uptime_30d: float | None = None
    uptime_1y: float | None = None
    server_version: str | None = None
    error: str | None = None


class KumaLoginRefused(IntegrationRejected):
    """Uptime Kuma refused the socket login (password, token or 2FA): poll ``/metrics`` instead."""

    def __init__(self, detail: str) -> None:
        """Create the error.

        Args:
            detail: Why, for the logs (never contains a secret).
        """
        super().__init__(SERVICE, 401, detail)
        self.user_message = "Uptime Kuma refused the sign-in, so live updates are off."


# --------------------------------------------------------------------------------------
# Parsing helpers
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromSample:
    """One sample line of the Prometheus text format."""

    name: str
    labels: dict[str, str]
    value: float


_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


def _parse_sample(line: str) -> PromSample:
    match = _METRIC_NAME.match(line)
    if not match:
        raise ValueError("no metric name")
    name, pos = match.group(), match.end()
    labels: dict[str, str] = {}
    if pos < len(line) and line[pos] == "{":
        pos += 1
        while True:
            while pos < len(line) and line[pos] in " \t":
                pos += 1
            if pos < len(line) and line[pos] == "}":
                pos += 1
                break
            label = _LABEL_NAME.match(line, pos)
            if not label:
                raise ValueError("bad label name")
            pos = label.end()
            if line[pos:pos + 2] != '="':
                raise ValueError("expected =\"")
            pos += 2
            chars: list[str] = []
            while True:
                if pos >= len(line):
                    raise ValueError("unterminated label value")
                char = line[pos]
                if char == "\\" and pos + 1 < len(line):
                    nxt = line[pos + 1]
                    chars.append(_ESCAPES.get(nxt, "\\" + nxt))
                    pos += 2
                    continue
                if char == '"':
                    pos += 1
                    break
                chars.append(char)
                pos += 1
            labels[label.group()] = "".join(chars)
            while pos < len(line) and line[pos] in " \t":
                pos += 1
            if pos < len(line) and line[pos] == ",":
                pos += 1
            elif pos < len(line) and line[pos] == "}":
                pos += 1
                break
            else:
                raise ValueError("expected , or }")
    rest = line[pos:].split()
    if not rest or len(rest) > 2:
        raise ValueError("expected a value")
    return PromSample(name, labels, float(rest[0]))  # float() reads NaN, +Inf, -Inf


def parse_prometheus(text: str) -> tuple[list[PromSample], set[str]]:
    """Parse the Prometheus text format leniently.

    Args:
        text: The body of a ``/metrics`` answer.

    Returns:
        The samples that parsed, and every metric name seen in samples or ``# HELP``/``# TYPE``
        lines. Lines that do not parse are skipped.
    """
    samples: list[PromSample] = []
    names: set[str] = set()
    skipped = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                names.add(parts[2])
            continue
        try:
            sample = _parse_sample(line)
        except (ValueError, IndexError):
            skipped += 1
            continue
        samples.append(sample)
        names.add(sample.name)
    if skipped:
        logger.debug("skipped %d unparseable metrics line(s)", skipped)
    return samples, names


def status_name(value: Any) -> str:
    """Kuma's status number (0-3, int, float or string) as a name; anything else is ``unknown``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return UNKNOWN
    if math.isnan(number) or not number.is_integer():
        return UNKNOWN
    return STATUS_NAMES.get(int(number), UNKNOWN)


def parse_kuma_time(value: Any) -> datetime | None:
    """Parse Kuma's ``YYYY-MM-DD HH:mm:ss.SSS`` (UTC, no zone) or an ISO string, as UTC-aware."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _ping_ms(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) or number < 0 else number


def _fraction(value: Any) -> float | None:
    number = _ping_ms(value)
    return None if number is None else min(number, 1.0)


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def _text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return None if text.strip().lower() in _NULLISH else text


def _url_or_none(value: Any) -> str | None:
    text = _text_or_none(value)
    return None if text is None or text.strip().lower() in _EMPTY_URLS else text


def _beat_from(row: Any) -> tuple[int | None, Beat] | None:
    """A beat from a raw row (snake_case), a live event or an important row (camelCase)."""
    if not isinstance(row, dict):
        return None
    moment = parse_kuma_time(row.get("time"))
    if moment is None:
        return None
    monitor_id = _int_or_none(row.get("monitorID", row.get("monitor_id")))
    return monitor_id, Beat(time=moment, status=status_name(row.get("status")), ping_ms=_ping_ms(row.get("ping")),
                            msg=str(row.get("msg") or ""), important=bool(row.get("important")))


# --------------------------------------------------------------------------------------
# HTTP client
# --------------------------------------------------------------------------------------


class UptimeKumaClient(BaseClient):
    """``/metrics`` and public status pages of one Uptime Kuma."""

    service = SERVICE

    def __init__(self, base_url: str, *, api_key: str | None = None, username: str | None = None,
                 password: str | None = None, timeout: float = 10.0,
                 breaker: pybreaker.CircuitBreaker | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        """Create the client.

        Args:
            base_url: Kuma's address, e.g. ``http://kuma.lan:3001``.
            api_key: An API key (``uk1_…``); preferred for ``/metrics``.
            username: The admin's username, for ``/metrics`` when no API key exists yet.
            password: The admin's password (same case).
            timeout: Seconds for every request.
            breaker: A ``pybreaker.CircuitBreaker``; defaults to the shared one.
            transport: An httpx transport (tests).
        """
        super().__init__(base_url, timeout=timeout, breaker=breaker, transport=transport)
        self._api_key = api_key or None
        self._username = username
        self._password = password

    def _metrics_auth(self) -> httpx.BasicAuth | None:
        if self._api_key:
            # Kuma ignores the username once API keys exist; send an empty one.
            return httpx.BasicAuth("", self._api_key)
        if self._username and self._password is not None:
            return httpx.BasicAuth(self._username, self._password)
        return None

    async def fetch_metrics(self) -> list[MonitorState]:
        """Every monitor that ``/metrics`` reports (paused ones and ones that never beat are absent).

        Returns:
            One ``MonitorState`` per monitor, ordered by id then name.

        Raises:
            IntegrationRejected: 401 when the key (or password) is refused, other 4xx.
            IntegrationUnavailable: timeouts, connection errors, 5xx, a body that is not
                Uptime Kuma metrics, or the breaker being open.
        """
        try:
            response = await self._request("GET", "/metrics", auth=self._metrics_auth(),
                                           headers={"Accept": "text/plain;version=0.0.4, */*;q=0.1"})
        except IntegrationRejected as exc:
            if exc.status_code == 401:
                what = "API key" if self._api_key else "username or password"
                rejected = IntegrationRejected(self.service, 401, f"Uptime Kuma refused the {what}")
                rejected.user_message = f"Uptime Kuma refused the {what}."
                if not self._api_key:
                    # Kuma gives the same 401 for a wrong password and for a right one once an
                    # API key exists (from then on /metrics takes keys only), and the second is
                    # the usual case: the same password still works for the live socket.
                    rejected.user_message = (
                        "Uptime Kuma refused the username or password for /metrics. Uptime Kuma needs an "
                        "API key for /metrics once one exists: add it in Settings → API Keys "
                        "(UPTIME_KUMA_API_KEY).")
                raise rejected from exc
            raise
        samples, names = parse_prometheus(response.text)
        if "monitor_status" not in names:
            raise IntegrationUnavailable(self.service, "the /metrics answer has no Uptime Kuma metrics")
        return build_monitor_states(samples)

    async def fetch_status_page(self, slug: str) -> list[MonitorHistory]:
        """History of the monitors published on a status page.

        Args:
            slug: The status page's slug.

        Returns:
            One ``MonitorHistory`` per monitor in a public group, in page order.

        Raises:
            IntegrationRejected: 404 for an unknown slug (2.x), other 4xx.
            IntegrationUnavailable: a timeout (1.23 never answers for an unknown slug),
                connection errors, 5xx, a body that is not the expected JSON.
        """
        path = quote(slug.strip(), safe="")
        if not path:
            raise IntegrationRejected(self.service, 404, "empty status page slug")
        try:
            page = self._json(await self._request("GET", f"/api/status-page/{path}"), self.service)
        except IntegrationRejected as exc:
            if exc.status_code == 404:
                raise IntegrationRejected(self.service, 404, f"status page {slug!r} not found") from exc
            raise
        monitors = _public_monitors(page)
        heartbeats = self._json(await self._request("GET", f"/api/status-page/heartbeat/{path}"), self.service)
        if not isinstance(heartbeats, dict):
            raise IntegrationUnavailable(self.service, "status page heartbeats are not an object")
        beat_lists = heartbeats.get("heartbeatList") or {}
        uptimes = heartbeats.get("uptimeList") or {}
        if not isinstance(beat_lists, dict) or not isinstance(uptimes, dict):
            raise IntegrationUnavailable(self.service, "unexpected status page heartbeat shape")
        histories = []
        for monitor_id, name, kind in monitors:
            rows = beat_lists.get(str(monitor_id)) or []
            beats = [parsed[1] for parsed in map(_beat_from, rows if isinstance(rows, list) else []) if parsed]
            beats.sort(key=lambda beat: beat.time)
            histories.append(MonitorHistory(monitor_id=monitor_id, name=name, beats=beats,
                                            uptime_24h=_fraction(uptimes.get(f"{monitor_id}_24")), type=kind))
        return histories


def _public_monitors(page: Any) -> list[tuple[int, str, str | None]]:
    """(id, name, type) of every monitor in the page's public groups, in order."""
    groups = page.get("publicGroupList") if isinstance(page, dict) else None
    if not isinstance(groups, list):
        raise IntegrationUnavailable(SERVICE, "unexpected status page shape")
    found: list[tuple[int, str, str | None]] = []
    seen: set[int] = set()
    for group in groups:
        for item in (group.get("monitorList") or []) if isinstance(group, dict) else []:
            monitor_id = _int_or_none(item.get("id")) if isinstance(item, dict) else None
            if monitor_id is None or monitor_id in seen:
                continue
            seen.add(monitor_id)
            found.append((monitor_id, str(item.get("name") or f"Monitor {monitor_id}"),
                          _text_or_none(item.get("type"))))
    return found


def build_monitor_states(samples: list[PromSample]) -> list[MonitorState]:
    """Fold Kuma's per-monitor gauges into ``MonitorState`` objects.

    Keyed by ``monitor_id`` when present (2.x), else by ``monitor_name`` (1.23). Labels that
    are not Kuma's own are tag labels (2.1+).
    """
    found: dict[str, dict[str, Any]] = {}
    for sample in samples:
        if not sample.name.startswith("monitor_") or "monitor_name" not in sample.labels:
            continue
        labels = sample.labels
        monitor_id = _int_or_none(labels.get("monitor_id"))
        key = str(monitor_id) if monitor_id is not None else labels["monitor_name"]
        entry = found.setdefault(key, {"labels": labels, "monitor_id": monitor_id, "uptime": {}})
        if sample.name == "monitor_status":
            entry["status"] = sample.value
        elif sample.name == "monitor_response_time":
            entry["response"] = sample.value
        elif sample.name == "monitor_uptime_ratio":
            entry["uptime"][labels.get("window")] = sample.value
    states = []
    for key, entry in found.items():
        labels = entry["labels"]
        states.append(MonitorState(
            key=key, monitor_id=entry["monitor_id"], name=labels["monitor_name"],
            type=labels.get("monitor_type") or UNKNOWN, url=_url_or_none(labels.get("monitor_url")),
            status=status_name(entry.get("status")), response_time_ms=_ping_ms(entry.get("response")),
            uptime_24h=_fraction(entry["uptime"].get("1d")), uptime_30d=_fraction(entry["uptime"].get("30d")),
            hostname=_text_or_none(labels.get("monitor_hostname")), port=_int_or_none(labels.get("monitor_port")),
            tags={k: v for k, v in labels.items() if k not in _KNOWN_LABELS},
        ))
    states.sort(key=lambda s: (s.monitor_id is None, s.monitor_id or 0, s.name))
    return states


# --------------------------------------------------------------------------------------
# Live Socket.IO connection
# --------------------------------------------------------------------------------------

EventCallback = Callable[[LiveEvent], Awaitable[None]]


class KumaLiveConnection:
    """A logged-in Socket.IO connection that turns Kuma's pushes into ``LiveEvent``s.

    ``run()`` connects, logs in (token first, then username and password), and reconnects
    with capped, jittered exponential backoff until ``stop()``. A refused login ends
    ``run()`` with ``KumaLoginRefused``. Events reach ``on_event`` one at a time, in the
    order Kuma sent them.
    """

    def __init__(self, base_url: str, *, on_event: EventCallback, username: str | None = None,
                 password: str | None = None, token: str | None = None, timeout: float = 10.0,
                 backoff_initial: float = 1.0, backoff_max: float = 60.0, backoff_jitter: float = 0.2,
                 transports: tuple[str, ...] = ("websocket",)) -> None:
        """Prepare the connection (nothing happens until ``run()``).

        Args:
            base_url: Kuma's address; the socket lives at ``/socket.io/``.
            on_event: Awaited with every ``LiveEvent``; its exceptions are logged.
            username: The admin's username.
            password: The admin's password (never logged).
            token: A JWT from an earlier login, tried first.
            timeout: Seconds for connecting and for each login call.
            backoff_initial: First reconnect delay, seconds.
            backoff_max: Longest reconnect delay, seconds.
            backoff_jitter: Random spread of each delay (0.2 = ±20 %).
            transports: Engine.IO transports to use.

        Raises:
            ValueError: If neither a token nor a username and password is given.
        """
        if not token and not (username and password is not None):
            raise ValueError("a token or a username and password is needed")
        self.base_url = base_url.rstrip("/")
        self._on_event = on_event
        self._username = username
        self._password = password
        self._token = token
        self._timeout = timeout
        self._backoff = (backoff_initial, backoff_max, backoff_jitter)
        self._transports = list(transports)
        self._stop = asyncio.Event()
        self._client: socketio.AsyncClient | None = None
        self._queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue()
        self._held: list[LiveEvent] | None = None
        self._monitors: dict[int, dict[str, Any]] = {}
        self._last: dict[int, Beat] = {}
        self._stats: dict[int, dict[str, float | None]] = {}
        self.server_version: str | None = None
        self.connected = False

    @property
    def token(self) -> str | None:
        """The JWT of the last successful login (reuse it to avoid password logins)."""
        return self._token

    def backoff_delay(self, attempt: int) -> float:
        """Seconds to wait before reconnect ``attempt`` (0-based): doubling, jittered, capped."""
        initial, cap, jitter = self._backoff
        delay = min(cap, initial * (2 ** min(attempt, 30)))
        return max(0.0, min(cap, delay * (1 + random.uniform(-jitter, jitter))))

    def monitor_states(self) -> list[MonitorState]:
        """What the connection knows now about every monitor."""
        return [self._state(monitor_id) for monitor_id in sorted(self._monitors)]

    async def stop(self) -> None:
        """Stop ``run()`` and close the connection."""
        self._stop.set()
        await self._close()

    async def run(self) -> None:
        """Stay connected until ``stop()``.

        A connection that was stopped stays stopped: make a new one to start again.

        Raises:
            KumaLoginRefused: Kuma refused the login; the caller should poll ``/metrics``.
        """
        consumer = asyncio.ensure_future(self._consume())
        attempt = 0
        try:
            while not self._stop.is_set():
                try:
                    dropped = await self._connect_and_login()
                    attempt = 0
                    await _wait_first(dropped, self._stop)
                except KumaLoginRefused as exc:
                    logger.warning("Uptime Kuma live connection: %s", exc)
                    await self._close()
                    self._queue.put_nowait(LiveEvent("disconnected", error=str(exc)))
                    raise
                except IntegrationUnavailable as exc:
                    logger.info("Uptime Kuma live connection failed: %s", exc)
                await self._close()
                if self._stop.is_set():
                    break
                delay = self.backoff_delay(attempt)
                attempt += 1
                logger.info("reconnecting to Uptime Kuma in %.2f s", delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=delay)
        finally:
            await self._close()
            self._queue.put_nowait(None)
            try:
                await asyncio.wait_for(asyncio.shield(consumer), timeout=max(self._timeout, 1.0))
            except (TimeoutError, asyncio.CancelledError):
                consumer.cancel()

    # ---- connection ------------------------------------------------------------------

    async def _connect_and_login(self) -> asyncio.Event:
        dropped = asyncio.Event()
        greeted = asyncio.Event()
        client = socketio.AsyncClient(reconnection=False, logger=False, engineio_logger=False)
        self._register(client, dropped, greeted)
        self._client = client
        self._held = []  # events wait here until the login answer is in
        try:
            await asyncio.wait_for(
                client.connect(self.base_url, socketio_path="socket.io", transports=self._transports,
                               wait_timeout=self._timeout),
                timeout=self._timeout + 1)
        except (socketio.exceptions.SocketIOError, TimeoutError, OSError, ValueError) as exc:
            raise IntegrationUnavailable(SERVICE, f"socket connect failed: {type(exc).__name__}: {exc}") from exc
        # Kuma 2.x registers a connection's handlers only after it has sent the first ``info``
        # and drops anything emitted before, so a login sent at once would never be answered.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_wait_first(greeted, dropped), timeout=self._timeout)
        if not greeted.is_set():
            raise IntegrationUnavailable(SERVICE, "no info event after connecting (not Uptime Kuma yet?)")
        try:
            await self._login(client)
        except (socketio.exceptions.SocketIOError, TimeoutError) as exc:
            raise IntegrationUnavailable(SERVICE, f"socket login failed: {type(exc).__name__}") from exc
        self.connected = True
        held, self._held = self._held or [], None
        self._queue.put_nowait(LiveEvent("connected", server_version=self.server_version))
        for event in held:
            self._queue.put_nowait(event)
        logger.info("Uptime Kuma live connection up (%s)", self.base_url)
        return dropped

    async def _login(self, client: socketio.AsyncClient) -> None:
        if self._token:
            ack = await client.call("loginByToken", self._token, timeout=self._timeout)
            if isinstance(ack, dict) and ack.get("ok"):
                return
            logger.info("Uptime Kuma refused the saved token")
            self._token = None
        if not (self._username and self._password is not None):
            raise KumaLoginRefused("the token was refused and no password is configured")
        ack = await client.call("login", {"username": self._username, "password": self._password, "token": ""},
                                timeout=self._timeout)
        if isinstance(ack, dict) and ack.get("ok"):
            self._token = ack.get("token") or None
            return
        if isinstance(ack, dict) and ack.get("tokenRequired"):
            raise KumaLoginRefused("two-factor authentication is required")
        reason = ack.get("msg") if isinstance(ack, dict) else None
        raise KumaLoginRefused(f"login refused for user {self._username!r} ({reason or 'no reason given'})")

    async def _close(self) -> None:
        client, self._client = self._client, None
        self.connected = False
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), timeout=self._timeout)

    # ---- events ----------------------------------------------------------------------

    def _emit(self, event: LiveEvent) -> None:
        # Synchronous on purpose: handler tasks run in arrival order, so events stay ordered.
        if self._held is not None:
            self._held.append(event)
        else:
            self._queue.put_nowait(event)

    async def _consume(self) -> None:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            try:
                await self._on_event(event)
            except Exception:  # noqa: BLE001 - a bad callback must not kill the connection
                logger.exception("Uptime Kuma live event callback failed (%s)", event.kind)

    def _register(self, client: socketio.AsyncClient, dropped: asyncio.Event, greeted: asyncio.Event) -> None:
        async def on_disconnect(*_: Any) -> None:
            was_connected = self.connected
            self.connected = False
            dropped.set()
            if was_connected and client is self._client:
                self._emit(LiveEvent("disconnected"))

        async def on_info(data: Any = None, *_: Any) -> None:
            greeted.set()
            if isinstance(data, dict) and data.get("version"):
                self.server_version = str(data["version"])

        async def on_monitor_list(data: Any = None, *_: Any) -> None:
            if isinstance(data, dict):
                self._monitors = {}
                self._merge_monitors(data)

        async def on_update_monitors(data: Any = None, *_: Any) -> None:
            if isinstance(data, dict):
                self._merge_monitors(data)

        async def on_delete_monitor(monitor_id: Any = None, *_: Any) -> None:
            key = _int_or_none(monitor_id)
            if key is not None and self._monitors.pop(key, None) is not None:
                self._emit(LiveEvent("monitors", monitors=tuple(self.monitor_states())))

        async def on_heartbeat_list(monitor_id: Any = None, rows: Any = None, *_: Any) -> None:
            key = _int_or_none(monitor_id)
            if key is None or not isinstance(rows, list):
                return
            beats = sorted((parsed[1] for parsed in map(_beat_from, rows) if parsed), key=lambda b: b.time)
            newest = beats[-1] if beats else None
            if newest is not None:
                self._last[key] = newest
            self._emit(LiveEvent("heartbeat", monitor_id=key, initial=True, beats=tuple(beats),
                                 status=newest.status if newest else None, ping_ms=newest.ping_ms if newest else None,
                                 time=newest.time if newest else None, msg=newest.msg if newest else None))

        async def on_heartbeat(data: Any = None, *_: Any) -> None:
            parsed = _beat_from(data)
            if parsed is None or parsed[0] is None:
                return
            monitor_id, beat = parsed
            self._last[monitor_id] = beat
            self._emit(LiveEvent("heartbeat", monitor_id=monitor_id, status=beat.status, ping_ms=beat.ping_ms,
                                 time=beat.time, msg=beat.msg, important=beat.important, beats=(beat,)))

        async def on_avg_ping(monitor_id: Any = None, value: Any = None, *_: Any) -> None:
            self._stat(monitor_id, "avg", _ping_ms(value))

        async def on_uptime(monitor_id: Any = None, period: Any = None, value: Any = None, *_: Any) -> None:
            name = {"24": "24h", "720": "30d", "1y": "1y"}.get(str(period).strip())
            if name is not None:
                self._stat(monitor_id, name, _fraction(value))

        client.on("disconnect", on_disconnect)
        client.on("info", on_info)
        client.on("monitorList", on_monitor_list)
        client.on("updateMonitorIntoList", on_update_monitors)
        client.on("deleteMonitorFromList", on_delete_monitor)
        client.on("heartbeatList", on_heartbeat_list)
        client.on("heartbeat", on_heartbeat)
        client.on("avgPing", on_avg_ping)
        client.on("uptime", on_uptime)

    def _merge_monitors(self, data: dict[str, Any]) -> None:
        for raw_id, item in data.items():
            monitor_id = _int_or_none(item.get("id", raw_id)) if isinstance(item, dict) else None
            if monitor_id is not None:
                self._monitors[monitor_id] = item
        self._emit(LiveEvent("monitors", monitors=tuple(self.monitor_states())))

    def _stat(self, monitor_id: Any, name: str, value: float | None) -> None:
        key = _int_or_none(monitor_id)
        if key is None:
            return
        stats = self._stats.setdefault(key, {})
        stats[name] = value
        self._emit(LiveEvent("stats", monitor_id=key, avg_ping_ms=stats.get("avg"), uptime_24h=stats.get("24h"),
                             uptime_30d=stats.get("30d"), uptime_1y=stats.get("1y")))

    def _state(self, monitor_id: int) -> MonitorState:
        item = self._monitors.get(monitor_id, {})
        last = self._last.get(monitor_id)
        stats = self._stats.get(monitor_id, {})
        tags = {str(t.get("name")): str(t.get("value") or "") for t in item.get("tags") or []
                if isinstance(t, dict) and t.get("name")}
        return MonitorState(
            key=str(monitor_id), monitor_id=monitor_id, name=str(item.get("name") or f"Monitor {monitor_id}"),
            type=str(item.get("type") or UNKNOWN), url=_url_or_none(item.get("url")),
            status=last.status if last else UNKNOWN, response_time_ms=last.ping_ms if last else None,
            uptime_24h=stats.get("24h"), uptime_30d=stats.get("30d"),
            hostname=_text_or_none(item.get("hostname")), port=_int_or_none(item.get("port")),
            active=bool(item.get("active", True)), tags=tags,
        )


async def _wait_first(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


__all__ = [
    "Beat", "KumaLiveConnection", "KumaLoginRefused", "LiveEvent", "MonitorHistory", "MonitorState",
    "PromSample", "UptimeKumaClient", "build_monitor_states", "parse_kuma_time", "parse_prometheus", "status_name",
]
