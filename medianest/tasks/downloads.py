"""Download tasks (thin): one task per item, the Plex step, the watchdog and the playlist sync.
The rules are in ``services/downloads``."""

from __future__ import annotations

import asyncio
import logging

from taskiq import TaskiqEvents, TaskiqState

from ..config import get_settings
from ..db import session_scope
from ..services import library, notifications
from ..services.downloads import runner, sync, to_plex
from ..wiring import get_registry
from .broker import broker

logger = logging.getLogger(__name__)

_at_start: set[asyncio.Task[None]] = set()


async def queue_items(item_ids: list[int]) -> None:
    """One task per item (the rows are already saved: a lost message is found by the watchdog)."""
    for _ in item_ids:
        await run_item.kiq()


@broker.task(task_name="downloads.item")
async def run_item() -> str:
    """Run the fairest queued item (see ``runner``); then, if its download is complete, Plex's turn."""
    outcome = await runner.run_next(get_registry().settings)
    if outcome.ready_for_plex and outcome.download_id is not None:
        await add_to_plex.kiq(outcome.download_id)
    return outcome.state


@broker.task(task_name="downloads.plex")
async def add_to_plex(download_id: int) -> str:
    """Scan the download's folder in Plex, wait for the items, make the collection."""
    registry = get_registry()
    async with session_scope() as session:
        plex = await registry.plex_server(session)
        machine_id = await library.household_machine_id(session)
        state = await to_plex.finish(session, int(download_id), plex=plex, settings=registry.settings,
                                     machine_id=machine_id)
        row = await session.get(to_plex.YoutubeDownload, int(download_id))
        user_id = row.user_id if row is not None else 0
    await runner.announce(user_id, int(download_id))
    if state == "done" and user_id:
        await notifications.announce([user_id], reason="download")
    return state


@broker.task(task_name="downloads.watchdog")
async def watchdog() -> int:
    """Items of vanished workers and paused items back in the queue; lost task messages made
    up for; downloads waiting for Plex tried again."""
    settings = get_registry().settings
    async with session_scope() as session:
        again = await runner.watchdog(session, settings=settings)
        lost = await runner.queued_without_runner(session)
        plex_turn = await to_plex.waiting(session, older_than_s=60)
    await queue_items(again + [0] * max(0, lost - len(again)))
    for download_id in plex_turn:
        await add_to_plex.kiq(download_id)
    return len(again)


@broker.task(task_name="downloads.sync")
async def sync_playlists() -> int:
    """New entries of the playlists kept in sync are downloaded into the same folder and collection."""
    settings = get_registry().settings
    async with session_scope() as session:
        ids = await sync.due(session, settings=settings)
    added = 0
    for download_id in ids:
        async with session_scope() as session:
            new = await sync.sync_one(session, download_id, settings=settings)
        added += len(new)
        await queue_items(new)
        if new:
            row_user = await _owner(download_id)
            await runner.announce(row_user, download_id)
    return added


async def _owner(download_id: int) -> int:
    async with session_scope() as session:
        row = await session.get(to_plex.YoutubeDownload, download_id)
        return row.user_id if row is not None else 0


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def watchdog_at_start(_state: TaskiqState) -> None:
    """A worker that starts runs the watchdog without waiting for the schedule (see
    :func:`_watchdog_at_start`); in the background, so the worker starts listening at once."""
    task = asyncio.get_running_loop().create_task(_watchdog_at_start(get_settings().downloads_lease_s))
    _at_start.add(task)
    task.add_done_callback(_at_start.discard)


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def stop_watchdog_at_start(_state: TaskiqState) -> None:
    for task in list(_at_start):
        task.cancel()
    await runner.close_children()


async def _watchdog_at_start(lease_s: float) -> None:
    """Twice: now, for a predecessor that died longer than a lease ago (a container started
    again), and once a lease has gone by, for one that died just before (``taskiq worker``
    starts a killed worker process again within a second, before its items' leases run out)."""
    for delay in (0.0, lease_s + 1):
        await asyncio.sleep(delay)
        try:
            await watchdog.kiq()
        except Exception:  # the schedule runs it anyway
            logger.exception("could not start the download watchdog")
