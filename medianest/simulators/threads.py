"""Serving a simulator from a daemon thread (tests and other in-process callers), shared by
every simulator so that starting, failing to start and stopping behave the same."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


class ServerThread:
    """Runs ``serve()`` in its own event loop on a daemon thread until ``request_exit()``."""

    def __init__(self, name: str, serve: Callable[[], Awaitable[object]], *, started: Callable[[], bool],
                 request_exit: Callable[[], None], timeout: float = 10.0) -> None:
        """Start the thread and wait until the server says it is started.

        Raises:
            RuntimeError: If the server crashes or does not start within ``timeout`` seconds.
        """
        self.name = name
        self._request_exit = request_exit
        errors: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(serve())
            except BaseException as exc:  # surfaced to the caller below
                errors.append(exc)
                logger.exception("%s thread crashed", name)

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not started():
            if errors or not self._thread.is_alive():
                raise RuntimeError(f"{name} failed to start: {errors[:1]}")
            if time.monotonic() > deadline:
                request_exit()
                raise RuntimeError(f"{name} did not start within {timeout:.0f} s")
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to exit and wait for the thread."""
        self._request_exit()
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("%s thread did not stop within %.1f s", self.name, timeout)


class ThreadHandle:
    """Base of the simulators' handles: ``stop()`` and use as a context manager.

    Subclasses are dataclasses with a ``_runner: ServerThread`` field."""

    _runner: ServerThread

    def _before_stop(self) -> None:
        """Hook: release anything that would keep requests hanging (faults, outages)."""

    def stop(self, timeout: float = 10.0) -> None:
        self._before_stop()
        self._runner.stop(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
