"""Serving the Overseerr simulator: ``OverseerrStack`` for an event loop of one's own,
``serve_overseerr_in_thread`` for tests and other in-process callers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from medianest.simulators.overseerr.routes import create_overseerr_app
from medianest.simulators.overseerr.sim import OverseerrSim
from medianest.simulators.plex import SingleAppStack
from medianest.simulators.threads import ServerThread, ThreadHandle

logger = logging.getLogger(__name__)


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
