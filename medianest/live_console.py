"""The admin console's live parts, run by the live bridge in every web process:

- the Jobs board: every ``jobs`` event (a task sent by the scheduler or by "Run now", started,
  finished; the task processes publish them only while the board is read) and every download
  change marks it stale; it is reloaded at most four times a second, and only while some admin's
  tab is linked to it;
- the announcement banner: an ``announcement`` event (posted, removed, ended) is written into
  every shard of the banner, each shard reading the database under its own lock (so two events
  applied by two processes at once cannot leave an older state behind);
- the banner's clock: the end time is decided on the server, never by a browser's clock (which
  may be wrong by minutes). Each process waits for the newest announcement's end and, once it
  passed, one of them (a Redis claim) publishes that it ended. A tab that links to the banner
  after that re-reads it if its copy says the end has passed (``SessionMixin._link_announcement``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import reflex as rx

from . import live, reflex_compat
from .db import session_scope
from .models import utcnow
from .services import announcements
from .state import (
    STATUS_BOARD_SHARDS,
    AnnouncementBanner,
    JobsBoard,
    announcement_token,
    jobs_board_token,
)

logger = logging.getLogger(__name__)

#: Bursts of task events are applied as one reload of the Jobs board.
JOBS_COALESCE_S = 0.25
#: Without events the board is still reloaded this often while linked (next runs fall due, and the
#: reload keeps the task processes publishing: ``job_runs.WATCH_TTL_S``).
JOBS_IDLE_S = 20.0
#: The clock re-reads the newest announcement at least this often (another process may have posted one).
CLOCK_POLL_S = 30.0
PRUNE_EVERY_S = 60.0


async def write_banners(app: rx.App, *, ended: int | None = None) -> None:
    """Write the current announcement into every shard of the banner (one delta per shard)."""

    async def one(shard: int) -> None:
        async with reflex_compat.change_shared(app, AnnouncementBanner, announcement_token(shard)) as banner:
            async with session_scope() as session:
                view = await announcements.current(session)
            # This process's clock may be a moment behind the one that saw it end.
            banner._show(None if view is not None and view.id == ended else view)

    await asyncio.gather(*(one(shard) for shard in range(STATUS_BOARD_SHARDS)))


async def refresh_jobs(app: rx.App) -> None:
    """Reload the Jobs board if an admin's tab is open on it (only what changed is sent). Nothing
    at all while no tab renews its watch mark (``live.is_watched``, up to 3 minutes after the last
    one closed); otherwise closed tabs are dropped first (a handful of admin tabs at most), and
    once the last one is gone the board is no longer read."""
    if not await live.is_watched(jobs_board_token()):
        return
    async with reflex_compat.change_shared(app, JobsBoard, jobs_board_token()) as board:
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


async def _prune_banners(app: rx.App) -> None:
    for shard in range(STATUS_BOARD_SHARDS):
        async with reflex_compat.change_shared(app, AnnouncementBanner, announcement_token(shard)) as banner:
            await forget_closed_tabs(app, banner)


async def _wait(events: list[asyncio.Event], seconds: float) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class Console:
    """One per web process: applies the console's live events and runs its two loops."""

    def __init__(self, app: rx.App) -> None:
        self.app = app
        self.jobs_stale = asyncio.Event()
        self.clock_wake = asyncio.Event()

    async def apply(self, event: dict[str, Any]) -> None:
        """Called with every live event; acts on its own kinds, ignores the rest."""
        kind = event.get("type")
        if kind in ("jobs", "downloads", "download-item"):
            self.jobs_stale.set()
        elif kind == "announcement":
            ended = event.get("ended")
            await write_banners(self.app, ended=ended if isinstance(ended, int) else None)
            self.clock_wake.set()

    def start(self, stop: asyncio.Event) -> list[asyncio.Task]:
        return [asyncio.create_task(self._jobs_loop(stop), name="jobs-board"),
                asyncio.create_task(self._clock(stop), name="announcement-clock")]

    async def _jobs_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await _wait([self.jobs_stale, stop], JOBS_IDLE_S)
            if stop.is_set():
                return
            self.jobs_stale.clear()
            try:
                await refresh_jobs(self.app)
            except Exception as exc:  # the next event tries again
                logger.warning("jobs board not refreshed: %r", exc)
            await live.wait_or_stop(stop, JOBS_COALESCE_S)

    async def _clock(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            wait = CLOCK_POLL_S
            try:
                wait = await self._tick()
            except Exception as exc:  # the database or Redis is away: try again later
                logger.warning("announcement clock: %r", exc)
            self.clock_wake.clear()
            await _wait([self.clock_wake, stop], wait)

    async def _tick(self) -> float:
        """Publish the end of the newest announcement once it passed; returns how long to sleep."""
        async with session_scope() as session:
            ending = await announcements.next_ending(session)
        wait = CLOCK_POLL_S
        if ending is not None:
            left = (ending.ends_at - utcnow()).total_seconds()
            if left > 0:
                wait = min(wait, left)
            elif await live.first_to_claim(f"announcement-ended-{ending.id}-{int(ending.ends_at.timestamp())}",
                                           24 * 3600):
                await live.publish({"type": "announcement", "ended": ending.id})
        if await live.first_to_claim("banner-prune", int(PRUNE_EVERY_S) - 5):
            await _prune_banners(self.app)
        return wait
