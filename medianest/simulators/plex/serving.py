"""Serving the Plex simulators: sockets, uvicorn servers without signal handlers, the stacks the
other simulators reuse, and ``serve_in_thread`` for tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from medianest.simulators.plex.pms_app import create_pms_app
from medianest.simulators.plex.state import PlexSim
from medianest.simulators.plex.tv_app import create_plex_tv_app
from medianest.simulators.threads import ServerThread, ThreadHandle

# Every part logs under the package's name, as the single module did.
logger = logging.getLogger("medianest.simulators.plex")


def _advertised_host(host: str) -> str:
    # A wildcard bind address is not something a client can connect to.
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets
    # whose proto says TCP, and without it every keep-alive response waits ~40 ms
    # for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to our runner.

    Two uvicorn servers in one loop would otherwise fight over SIGINT/SIGTERM.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _make_server(app: Any, log_level: str) -> _Server:
    config = uvicorn.Config(app, lifespan="off", log_level=log_level, timeout_graceful_shutdown=2,
                            access_log=log_level == "debug")
    return _Server(config)


class SingleAppStack:
    """One simulator app bound to a socket, ready to be served in an event loop (the Uptime Kuma
    and Overseerr simulators). Subclasses set ``sim_class`` and ``app_factory``; the simulator is
    built with ``base_url`` = the served URL plus the given options."""

    sim_class: Any
    app_factory: Callable[[Any], Any]

    def __init__(self, host: str, port: int, *, log_level: str = "warning", advertise_host: str | None = None,
                 **sim_options: Any) -> None:
        """Bind the port (0 picks a free one) and build the state and app."""
        self._sock = _bind(host, port)
        self.url = f"http://{advertise_host or _advertised_host(host)}:{self._sock.getsockname()[1]}"
        try:
            self.sim = self.sim_class(base_url=self.url, **sim_options)
        except Exception:
            self._sock.close()
            raise
        self._server = _make_server(type(self).app_factory(self.sim), log_level)

    @property
    def started(self) -> bool:
        """Whether the server accepts connections."""
        return bool(self._server.started)

    def _stop_server(self) -> None:
        """Ask uvicorn to stop; a second call forces it."""
        if self._server.should_exit:
            self._server.force_exit = True
        self._server.should_exit = True

    async def serve(self) -> None:
        """Serve until ``request_exit()``."""
        await self._server.serve(sockets=[self._sock])


class SimulatorStack:
    """Both simulator apps bound to sockets, ready to be served in one event loop."""

    def __init__(self, host: str = "127.0.0.1", plex_tv_port: int = 32410, pms_port: int = 32400, *,
                 log_level: str = "warning", advertise_host: str | None = None, **sim_options: Any) -> None:
        """Bind both ports (port 0 picks a free one) and build the state and apps.

        Args:
            host: Interface to bind.
            plex_tv_port: Port of the plex.tv simulator.
            pms_port: Port of the PMS simulator.
            log_level: uvicorn's log level.
            advertise_host: Host name to put in URLs (defaults to ``host``).
            **sim_options: Passed to ``PlexSim``.
        """
        self._plex_tv_sock = _bind(host, plex_tv_port)
        try:
            self._pms_sock = _bind(host, pms_port)
        except OSError:
            self._plex_tv_sock.close()
            raise
        public = advertise_host or _advertised_host(host)
        self.plex_tv_url = f"http://{public}:{self._plex_tv_sock.getsockname()[1]}"
        self.pms_url = f"http://{public}:{self._pms_sock.getsockname()[1]}"
        self.sim = PlexSim(self.plex_tv_url, self.pms_url, **sim_options)
        self._servers = [
            _make_server(create_plex_tv_app(self.sim), log_level),
            _make_server(create_pms_app(self.sim), log_level),
        ]

    @property
    def started(self) -> bool:
        """Whether both servers accept connections."""
        return all(s.started for s in self._servers)

    def request_exit(self) -> None:
        """Ask both servers to stop; a second call forces them."""
        # Held "outage" requests would otherwise keep the graceful shutdown waiting.
        self.sim.clear_faults()
        for server in self._servers:
            if server.should_exit:
                server.force_exit = True
            server.should_exit = True

    async def serve(self) -> None:
        """Serve both apps until ``request_exit()``."""
        await asyncio.gather(
            self._servers[0].serve(sockets=[self._plex_tv_sock]),
            self._servers[1].serve(sockets=[self._pms_sock]),
        )


@dataclass
class SimulatorHandle(ThreadHandle):
    """A running pair of simulators (see ``serve_in_thread``)."""

    sim: PlexSim
    plex_tv_url: str
    pms_url: str
    _runner: ServerThread


def serve_in_thread(host: str = "127.0.0.1", plex_tv_port: int = 0, pms_port: int = 0,
                    **opts: Any) -> SimulatorHandle:
    """Serve both simulators with uvicorn in a daemon thread.

    Args:
        host: Interface to bind.
        plex_tv_port: Port for plex.tv (0 picks a free port).
        pms_port: Port for the PMS (0 picks a free port).
        **opts: ``log_level``, ``advertise_host`` and any ``PlexSim`` keyword
            (``library_root``, ``downloads_root``, ``scan_delay``, ``strict``, ``auto_approve`` …).

    Returns:
        A handle with ``.sim``, ``.plex_tv_url``, ``.pms_url`` and ``.stop()``.

    Raises:
        RuntimeError: If the servers do not start within 10 seconds.
    """
    stack = SimulatorStack(host, plex_tv_port, pms_port, **opts)
    runner = ServerThread("plex-simulators", stack.serve, started=lambda: stack.started,
                          request_exit=stack.request_exit)
    logger.info("plex.tv simulator on %s, PMS simulator on %s", stack.plex_tv_url, stack.pms_url)
    return SimulatorHandle(stack.sim, stack.plex_tv_url, stack.pms_url, runner)
