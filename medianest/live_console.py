"""The admin console's live parts, run by the live bridge in every web process:

- the Jobs board: every ``jobs`` event (a task sent by the scheduler or by "Run now", started,
  finished) and every download change marks it stale; it is reloaded at most a few times a
  second, and only while some admin's tab is linked to it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import reflex as rx

from . import live, reflex_compat
from .state import JobsBoard, jobs_board_token

logger = logging.getLogger(__name__)

#: Bursts of task events are applied as one reload of the Jobs board.
JOBS_COALESCE_S = 0.25
PRUNE_EVERY_S = 60.0


async def refresh_jobs(app: rx.App, *, prune: bool = False) -> None:
    """Reload the Jobs board if an admin's tab is linked to it (only what changed is sent)."""
    async with reflex_compat.change_shared(app, JobsBoard, jobs_board_token()) as board:
        if prune:
            await forget_closed_tabs(app, board)
        if reflex_compat.linked_tabs(board):
            await board._reload()


async def forget_closed_tabs(app: rx.App, state: rx.SharedState) -> None:
    """Reflex never unlinks a tab that went away: drop the tabs whose socket is gone."""
    if app.event_namespace is None:
        return
    linked = reflex_compat.linked_tabs(state)
    gone = {tab for tab in linked if not await reflex_compat.is_tab_connected(app, tab)}
    if gone:
        reflex_compat.set_linked_tabs(state, linked - gone)


async def _wait(events: list[asyncio.Event], seconds: float) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class Console:
    """One per web process: applies the console's live events and runs its loop."""

    def __init__(self, app: rx.App) -> None:
        self.app = app
        self.jobs_stale = asyncio.Event()
        self._pruned = 0.0

    async def apply(self, event: dict[str, Any]) -> None:
        """Called with every live event; acts on its own kinds, ignores the rest."""
        kind = event.get("type")
        if kind == "jobs" or kind == "downloads":
            self.jobs_stale.set()

    def start(self, stop: asyncio.Event) -> list[asyncio.Task]:
        return [asyncio.create_task(self._jobs_loop(stop), name="jobs-board")]

    async def _jobs_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await _wait([self.jobs_stale, stop], PRUNE_EVERY_S)
            if stop.is_set():
                return
            self.jobs_stale.clear()
            prune = time.monotonic() - self._pruned > PRUNE_EVERY_S
            if prune:
                self._pruned = time.monotonic()
            try:
                await refresh_jobs(self.app, prune=prune)
            except Exception as exc:  # the next event tries again
                logger.warning("jobs board not refreshed: %r", exc)
            await live.wait_or_stop(stop, JOBS_COALESCE_S)
