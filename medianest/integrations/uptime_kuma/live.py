"""The optional live feed: a logged-in Socket.IO connection to Kuma whose pushes become
``LiveEvent``s (an internal API that needs the admin's password; see the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import socketio

from ...errors import IntegrationRejected, IntegrationUnavailable
from .common import (
    SERVICE,
    UNKNOWN,
    Beat,
    MonitorState,
    _beat_from,
    _fraction,
    _int_or_none,
    _ping_ms,
    _text_or_none,
    _url_or_none,
)

logger = logging.getLogger(__name__)


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
        delay = min(cap, initial * (2.0 ** min(attempt, 30)))
        return max(0.0, min(cap, delay * (1 + random.uniform(-jitter, jitter))))

    def monitor_states(self) -> list[MonitorState]:
        """What the connection knows now about every monitor."""
        return [self._state(monitor_id) for monitor_id in sorted(self._monitors)]

    async def stop(self) -> None:
        """Stop ``run()`` and close the connection."""
        self._stop.set()
        await self._close()

    async def check_login(self) -> str | None:
        """Connect and log in once, then close (an admin's "Test connection").

        Returns:
            Kuma's version as its ``info`` event gave it (None when it sent none).

        Raises:
            KumaLoginRefused: the username or password was refused.
            IntegrationUnavailable: nothing speaks Kuma's socket at that address.
        """
        try:
            await self._connect_and_login()
            return self.server_version
        finally:
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
            except Exception:
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
            if parsed is None:
                return
            monitor_id, beat = parsed
            if monitor_id is None:
                return
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
