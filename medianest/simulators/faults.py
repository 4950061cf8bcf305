"""Fault injection for the simulators: latency, error statuses and outages.

``FaultsMiddleware`` wraps a simulator's ASGI app. It also answers the control routes
itself, so every wrapped app gets them for free:

- ``GET /__sim__/faults`` returns the current configuration.
- ``POST /__sim__/faults`` with ``{"latency_ms": 0, "status": null, "outage": false,
  "path_prefix": "/", "times": null}`` replaces it (omitted keys take these defaults).
- ``DELETE /__sim__/faults`` clears it.

``latency_ms`` delays matching requests; clearing the faults ends the delay of the requests
waiting on it (they are then served normally, as if no fault had been set).
``status`` answers matching requests with that HTTP status and a JSON error body.
``outage`` holds matching requests open until the client gives up or the faults are
cleared (then the request is served normally). ``times`` limits how many requests
are affected before the faults clear themselves. Paths under ``/__sim__/`` are never
affected, so a test can always undo what it set.

In-process code uses the same ``FaultInjector`` through its ``set()``/``clear()``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import asdict, dataclass
from typing import Any

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]

SIM_PREFIX = "/__sim__"
_FAULTS_PATH = "/__sim__/faults"
#: How often a held ("outage") or delayed ("latency") request checks whether the faults were cleared.
_OUTAGE_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class FaultConfig:
    """One fault configuration; the defaults mean "no fault"."""

    latency_ms: int = 0
    status: int | None = None
    outage: bool = False
    path_prefix: str = "/"
    times: int | None = None

    @property
    def active(self) -> bool:
        """Whether this configuration changes anything at all."""
        return bool(self.latency_ms or self.status or self.outage)


class FaultInjector:
    """Thread-safe holder of one app's fault configuration.

    The simulators run their event loop in a background thread while tests call
    ``set()``/``clear()`` from the main thread, hence the lock.
    """

    def __init__(self, name: str) -> None:
        """Create an injector with no faults.

        Args:
            name: Label used in log lines (e.g. ``"pms"``).
        """
        self.name = name
        self._lock = threading.Lock()
        self._config = FaultConfig()
        self._remaining: int | None = None
        # Bumped on every change so that held requests notice a clear() even if
        # a new outage was configured in between.
        self._generation = 0
        # Bumped by clear() only: a delayed request is released by a clear, not by a new setting.
        self._clears = 0

    def set(
        self,
        *,
        latency_ms: int = 0,
        status: int | None = None,
        outage: bool = False,
        path_prefix: str = "/",
        times: int | None = None,
    ) -> FaultConfig:
        """Replace the fault configuration.

        Args:
            latency_ms: Delay added before each matching request is handled.
            status: If set, matching requests get this HTTP status and a JSON error.
            outage: If true, matching requests hang until the client gives up or
                the faults are cleared.
            path_prefix: Only request paths starting with this are affected.
            times: Number of requests to affect before clearing automatically;
                ``None`` means until cleared.

        Returns:
            The new configuration.

        Raises:
            ValueError: If a value is out of range.
        """
        if latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if status is not None and not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or null")
        if not path_prefix.startswith("/"):
            raise ValueError("path_prefix must start with '/'")
        config = FaultConfig(int(latency_ms), status, bool(outage), path_prefix, times)
        with self._lock:
            self._config = config
            self._remaining = times
            self._generation += 1
        logger.info("%s faults set: %s", self.name, config)
        return config

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            was_active = self._config.active
            self._config = FaultConfig()
            self._remaining = None
            self._generation += 1
            self._clears += 1
        if was_active:
            logger.info("%s faults cleared", self.name)

    @property
    def config(self) -> FaultConfig:
        """The current configuration."""
        with self._lock:
            return self._config

    def snapshot(self) -> dict[str, Any]:
        """The current configuration as JSON-ready data, with the remaining count."""
        with self._lock:
            data = asdict(self._config)
            data["remaining"] = self._remaining
            return data

    def claim(self, path: str) -> tuple[FaultConfig, int, int] | None:
        """Decide whether a request to ``path`` is affected, counting it if so.

        Args:
            path: The request path.

        Returns:
            The configuration to apply, the generation it belongs to and how many times the
            faults had been cleared, or ``None``.
        """
        with self._lock:
            config = self._config
            if not config.active or not path.startswith(config.path_prefix):
                return None
            if self._remaining is not None:
                self._remaining -= 1
                if self._remaining <= 0:
                    # The request that uses up the budget is still affected.
                    self._config = FaultConfig()
                    self._remaining = None
                    self._generation += 1
            # Read after a possible bump: a request held by an outage must wait for
            # the *next* change, not be released by its own budget running out.
            return config, self._generation, self._clears

    def cleared_since(self, clears: int) -> bool:
        """Whether clear() ran since a claim that saw ``clears``."""
        with self._lock:
            return self._clears != clears

    def outage_over(self, generation: int) -> bool:
        """Whether a request held by the outage of ``generation`` may continue."""
        with self._lock:
            return self._generation != generation and not self._config.outage


class FaultsMiddleware:
    """ASGI middleware applying a ``FaultInjector`` to every non-``/__sim__`` request."""

    def __init__(self, app: Any, injector: FaultInjector) -> None:
        """Wrap ``app``.

        Args:
            app: The ASGI app to protect.
            injector: Where the fault configuration lives.
        """
        self.app = app
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path.rstrip("/") == _FAULTS_PATH:
            await self._control(scope, receive, send)
            return
        if path.startswith(SIM_PREFIX):
            await self.app(scope, receive, send)
            return
        claimed = self.injector.claim(path)
        if claimed is None:
            await self.app(scope, receive, send)
            return
        config, generation, clears = claimed
        if config.latency_ms and not await self._delay(config.latency_ms / 1000, clears):
            # The faults were cleared while this request waited: serve it normally.
            await self.app(scope, receive, send)
            return
        if config.outage:
            replay = await self._hold(receive, generation)
            if replay is not None:
                # The outage was cleared while this request waited: serve it normally.
                await self.app(scope, replay, send)
            return
        if config.status:
            await _send_json(send, config.status, {
                "errors": [{"code": config.status, "message": f"Simulated fault (HTTP {config.status})",
                            "status": config.status}],
            })
            return
        await self.app(scope, receive, send)

    async def _delay(self, seconds: float, clears: int) -> bool:
        """Wait ``seconds``, or less if the faults are cleared meanwhile.

        Returns:
            True if the whole delay passed, False if a clear() ended it.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            if self.injector.cleared_since(clears):
                return False
            await asyncio.sleep(min(left, _OUTAGE_POLL_SECONDS))
        return True

    async def _hold(self, receive: Any, generation: int) -> Any | None:
        """Keep a request waiting until the client disconnects or the outage ends.

        Returns:
            A ``receive`` callable replaying the request body for the app, or ``None``
            if the client disconnected.
        """
        # Read the body first: the only way to learn about a disconnect is to keep
        # calling receive(), and the app may still need the body afterwards.
        buffered: list[Message] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            buffered.append(message)
            if not message.get("more_body", False):
                break
        disconnect = asyncio.ensure_future(receive())
        try:
            while not self.injector.outage_over(generation):
                done, _ = await asyncio.wait({disconnect}, timeout=_OUTAGE_POLL_SECONDS)
                if done:
                    return None
        finally:
            if not disconnect.done():
                disconnect.cancel()

        async def replay() -> Message:
            if buffered:
                return buffered.pop(0)
            return await receive()

        return replay

    async def _control(self, scope: Scope, receive: Any, send: Any) -> None:
        """Answer ``/__sim__/faults``."""
        method = scope.get("method", "GET")
        if method == "GET":
            await _send_json(send, 200, self.injector.snapshot())
            return
        if method == "DELETE":
            self.injector.clear()
            await _send_json(send, 200, self.injector.snapshot())
            return
        if method != "POST":
            await _send_json(send, 405, {"error": "method not allowed"})
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        try:
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise ValueError("body must be a JSON object")
            allowed = {"latency_ms", "status", "outage", "path_prefix", "times"}
            unknown = set(data) - allowed
            if unknown:
                raise ValueError(f"unknown keys: {sorted(unknown)}")
            kwargs = {
                "latency_ms": _opt_int(data.get("latency_ms"), "latency_ms") or 0,
                "status": _opt_int(data.get("status"), "status"),
                "outage": bool(data.get("outage") or False),
                "path_prefix": data.get("path_prefix") or "/",
                "times": _opt_int(data.get("times"), "times"),
            }
            if not isinstance(kwargs["path_prefix"], str):
                raise ValueError("path_prefix must be a string")
            self.injector.set(**kwargs)
        except (ValueError, TypeError) as exc:
            await _send_json(send, 400, {"error": str(exc)})
            return
        await _send_json(send, 200, self.injector.snapshot())


def _opt_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number or null")
    return int(value)


async def _send_json(send: Any, status: int, payload: Any) -> None:
    body = json.dumps(payload).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})
