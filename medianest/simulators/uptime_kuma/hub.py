"""The Uptime Kuma simulator's Socket.IO connections, and a way to emit to them from any thread."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from typing import Any

import socketio

from medianest.simulators.uptime_kuma.model import _ROOM

logger = logging.getLogger(__name__)


def running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class SocketHub:
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
        if running_loop() is loop:
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
