"""Serving the Uptime Kuma simulator: ``KumaStack`` for an event loop of one's own (with the
demo ticker), ``serve_kuma_in_thread`` for tests and other in-process callers."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from medianest.simulators.plex import SingleAppStack
from medianest.simulators.threads import ServerThread, ThreadHandle
from medianest.simulators.uptime_kuma.app import create_kuma_app
from medianest.simulators.uptime_kuma.hub import running_loop
from medianest.simulators.uptime_kuma.sim import KumaSim

logger = logging.getLogger(__name__)


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
                if running_loop() is hub.loop:
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
