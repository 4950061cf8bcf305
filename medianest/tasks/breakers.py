"""Task workers follow circuit breaker resets (``breaker_sync``) for as long as they run: an admin's
Reset reaches the breakers of the worker processes too, not only the web processes'."""

from __future__ import annotations

import asyncio
import contextlib

from taskiq import TaskiqEvents, TaskiqState

from .. import breaker_sync
from .broker import broker

_following: list[tuple[asyncio.Event, asyncio.Task]] = []


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def follow_breaker_resets(_state: TaskiqState) -> None:
    stop = asyncio.Event()
    _following.append((stop, asyncio.create_task(breaker_sync.follow(stop, role="worker"), name="breaker-resets")))


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def stop_following_breaker_resets(_state: TaskiqState) -> None:
    while _following:
        stop, task = _following.pop()
        stop.set()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)
