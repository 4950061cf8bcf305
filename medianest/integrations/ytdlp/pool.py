"""Warm yt-dlp children for downloads (see ``child.py``): a finished item hands its child back,
and the next item of this process takes it instead of starting a new interpreter.

Measured on the demo site (``bench/downloads.py``): a new child pays about 1.3 s of CPU before its
first byte (importing yt-dlp, matching the link against its ~1,750 extractors, compiling the
generic extractor's patterns); a warm one starts the next video at once.

A child goes back to the pool only when its request ended with its last event and it was never
asked to cancel; at most :attr:`ChildPool.keep` wait at once (the process's download slots); one
that waited longer than ``idle_s`` is not used again (and exits by itself a minute later, if
nothing took it out of the pool before), and each serves at most ``max_requests`` videos, so
memory that yt-dlp or an extractor keeps does not grow for good. A child that is dropped is
closed (the end of its stdin: it exits at once). After :meth:`ChildPool.close` every child handed
back is closed.
"""

from __future__ import annotations

import asyncio
import time

from .process import ChildProcess

IDLE_S = 300.0
MAX_REQUESTS = 50


class ChildPool:
    """Idle children of one event loop (a worker process's slots share one)."""

    def __init__(self, *, keep: int = 2, idle_s: float = IDLE_S, max_requests: int = MAX_REQUESTS) -> None:
        self.keep = keep
        self.idle_s = idle_s
        self.max_requests = max_requests
        self._idle: list[ChildProcess] = []
        self._closing: set[asyncio.Task[None]] = set()
        self.closed = False

    @property
    def idle(self) -> int:
        return len(self._idle)

    async def take(self) -> ChildProcess:
        """A warm child if one waits (the most recently used first), else a new one."""
        while self._idle:
            child = self._idle.pop()
            if self._usable(child) and time.monotonic() - child.idle_since < self.idle_s:
                return child
            self._drop(child)
        return await ChildProcess.spawn(idle_exit_s=self.idle_s + 60)

    def give_back(self, child: ChildProcess) -> None:
        """Keep ``child`` for the next request, or close it (spent, busy, worn or one too many)."""
        if not self.closed and self._usable(child) and child.requests < self.max_requests \
                and len(self._idle) < self.keep:
            child.idle_since = time.monotonic()
            self._idle.append(child)
        else:
            self._drop(child)

    async def close(self) -> None:
        """Close every idle child (and every one handed back from now on) and wait for those being
        closed."""
        self.closed = True
        idle, self._idle = self._idle, []
        for child in idle:
            self._drop(child)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    @staticmethod
    def _usable(child: ChildProcess) -> bool:
        return child.running and not child.spent and not child.busy

    def abandon(self) -> None:
        """The pool's event loop closed: its idle children cannot be closed through it; kill them."""
        self.closed = True
        idle, self._idle = self._idle, []
        for child in idle:
            child.kill()

    def _drop(self, child: ChildProcess) -> None:
        task = asyncio.get_running_loop().create_task(child.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
