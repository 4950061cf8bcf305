"""Running download items: a fair claim under a lease, the download itself through the yt-dlp
seam (in a yt-dlp child process kept warm for the process's next item), progress to the live
bridge, and the watchdog that puts back what a vanished worker left.

Each item is queued as a task of its own; a task takes a slot of this process (at most
``DOWNLOAD_CONCURRENCY`` at once), then claims the fairest queued item (the member with the fewest
items running first, then the oldest download), which is not always the item it was queued for:
tasks and items are one to one, so every item still runs exactly once.

The claim is a conditional UPDATE (``status = 'queued'``), so a duplicate or re-delivered task
never runs an item twice: it finds the item taken and claims the next queued one, or nothing. The
claim lasts ``DOWNLOAD_LEASE_SECONDS`` and is renewed while the item runs; a worker that dies
(SIGKILL) stops renewing, and the watchdog puts the item back once the lease has run out. A
worker only writes to an item while it still owns the claim (``claimed_by`` and ``attempts``), so
a worker that lost its lease (put back by the watchdog, taken by another) stops and writes
nothing."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ...config import Settings
from ...db import as_utc, session_scope
from ...integrations import ytdlp
from ...models import (
    OPEN_ITEM_STATES,
    DownloadState,
    ItemState,
    User,
    YoutubeDownload,
    YoutubeDownloadItem,
    utcnow,
)
from .. import system
from . import rules, views
from .events import ItemRelay, announce, item_ended
from .files import archive_path, clear_temp, download_path, existing_download, temp_dir
from .members import disk_free_bytes, settle

logger = logging.getLogger(__name__)

WORKER = f"{socket.gethostname()}-{os.getpid()}"
RENEW_AT_MOST_EVERY_S = 10.0
CANCEL_POLL_S = 0.25
MAX_ATTEMPTS = 3
PAUSED_NOTE = "Paused: the download disk is almost full"
#: Where MediaNest's own status check of Plex is remembered (``system_settings``).
PLEX_REACH_KEY = "plex_reachability"

_slots: dict[int, tuple[int, asyncio.Semaphore]] = {}
_pools: dict[int, tuple[weakref.ref[asyncio.AbstractEventLoop], ytdlp.ChildPool]] = {}


def _slot(settings: Settings) -> asyncio.Semaphore:
    """This process's slots. A new ``DOWNLOAD_CONCURRENCY`` (Admin → Services) makes new ones:
    videos already running keep theirs and finish; the next ones wait on the new count."""
    loop_id = id(asyncio.get_running_loop())
    size, slots = _slots.get(loop_id, (0, None))
    if slots is None or size != settings.downloads_concurrency:
        slots = asyncio.Semaphore(settings.downloads_concurrency)
        _slots[loop_id] = (settings.downloads_concurrency, slots)
    return slots


def _children(settings: Settings) -> ytdlp.ChildPool:
    """This process's warm yt-dlp children: as many wait as it has slots."""
    loop = asyncio.get_running_loop()
    known = _pools.get(id(loop))
    if known is None or known[0]() is not loop:
        for key, (ref, old) in list(_pools.items()):
            gone = ref()
            if gone is None or gone.is_closed():  # a loop that ended without close_children
                old.abandon()
                del _pools[key]
        known = _pools[id(loop)] = (weakref.ref(loop), ytdlp.ChildPool())
    pool = known[1]
    pool.keep = settings.downloads_concurrency
    return pool


async def close_children() -> None:
    """Close this process's idle yt-dlp children (a worker shutting down)."""
    known = _pools.pop(id(asyncio.get_running_loop()), None)
    if known is not None:
        await known[1].close()


def lease(settings: Settings) -> timedelta:
    """How long a claim lasts without renewal (``DOWNLOAD_LEASE_SECONDS``)."""
    return timedelta(seconds=settings.downloads_lease_s)


def renew_every_s(settings: Settings) -> float:
    """A running item's lease is renewed every sixth of it, at most every 10 s."""
    return min(settings.downloads_lease_s / 6, RENEW_AT_MOST_EVERY_S)


@dataclass(frozen=True)
class Claim:
    """Who holds an item: a worker writes to the item only while the row still says so."""

    item_id: int
    attempt: int

    def owns(self, claimed_by: str | None, attempts: int) -> bool:
        return claimed_by == WORKER and attempts == self.attempt


@dataclass(frozen=True)
class RunOutcome:
    item_id: int | None = None
    download_id: int | None = None
    user_id: int | None = None
    state: str = ""
    ready_for_plex: bool = False


async def running_counts(session: AsyncSession) -> dict[int, int]:
    rows = (await session.exec(
        select(YoutubeDownloadItem.user_id, sa.func.count()).where(
            col(YoutubeDownloadItem.status).in_([ItemState.DOWNLOADING.value, ItemState.PROCESSING.value]))
        .group_by(col(YoutubeDownloadItem.user_id)))).all()
    return {int(u): int(n) for u, n in rows}


async def pause_reason(session: AsyncSession, settings: Settings) -> str | None:
    """Why new items must wait rather than start (and fail): the download disk is almost full
    (below ``DOWNLOAD_MIN_FREE_MB``), or Plex is down by MediaNest's last status check (the files
    could not reach it). None when the queue may run."""
    free = disk_free_bytes(settings.downloads_dir)
    if free is not None and free < settings.downloads_min_free_mb * 1_000_000:
        return PAUSED_NOTE
    reach = await system.get_value(session, PLEX_REACH_KEY)
    if reach is not None and reach.get("up") is False:
        since = _parse_time(reach.get("since"))
        return f"Paused: Plex is not answering since {since:%H:%M} UTC" if since else "Paused: Plex is not answering"
    return None


async def record_plex_reach(session: AsyncSession, *, up: bool) -> bool:
    """MediaNest's own check of Plex (made even when an Uptime Kuma monitor shows Plex's card):
    remembered for :func:`pause_reason`. Returns True when it changed (the caller commits)."""
    reach = await system.get_value(session, PLEX_REACH_KEY)
    if reach is not None and reach.get("up") is up:
        return False
    await system.put_value(session, PLEX_REACH_KEY, {"up": up, "since": utcnow().isoformat()})
    return True


def _parse_time(value: object) -> datetime | None:
    try:
        return as_utc(datetime.fromisoformat(str(value))) if value else None
    except ValueError:
        return None


async def pause_queue(session: AsyncSession, settings: Settings) -> str | None:
    """Pause the queued (and re-word the paused) items while :func:`pause_reason` holds."""
    reason = await pause_reason(session, settings)
    if reason is None:
        return None
    changed = (await session.exec(select(YoutubeDownloadItem.user_id, YoutubeDownloadItem.download_id).where(
        col(YoutubeDownloadItem.status).in_([ItemState.QUEUED.value, ItemState.PAUSED.value]),
        sa.or_(col(YoutubeDownloadItem.status) == ItemState.QUEUED.value,
               col(YoutubeDownloadItem.error).is_distinct_from(reason))).distinct())).all()
    await session.exec(sa.update(YoutubeDownloadItem)
                       .where(col(YoutubeDownloadItem.status).in_([ItemState.QUEUED.value, ItemState.PAUSED.value]))
                       .values(status=ItemState.PAUSED.value, error=reason))
    for download_id in {d for _, d in changed}:  # a download not started yet now waits, and says so
        download = await session.get(YoutubeDownload, download_id)
        if download is not None:
            await settle(session, download)
    await session.commit()
    for user_id, download_id in changed:  # their cards now say why they wait
        await announce(user_id, download_id)
    return reason


async def paused_reasons(session: AsyncSession) -> dict[str, int]:
    """How many videos wait paused, by the reason they show."""
    rows = (await session.exec(select(YoutubeDownloadItem.error, sa.func.count())
                               .where(YoutubeDownloadItem.status == ItemState.PAUSED.value)
                               .group_by(col(YoutubeDownloadItem.error)))).all()
    return {str(reason or "Paused"): int(n) for reason, n in rows}


async def claim(session: AsyncSession, *, settings: Settings, now_s: float | None = None) -> int | None:
    """Claim the fairest queued item for this worker; None if there is none (or the queue is paused)."""
    if await pause_queue(session, settings) is not None:
        return None
    for _ in range(8):
        running = await running_counts(session)
        # Each member's next item (however long anyone's queue is), then the fairest of those.
        rank = sa.func.row_number().over(
            partition_by=col(YoutubeDownloadItem.user_id),
            order_by=(col(YoutubeDownloadItem.download_id), col(YoutubeDownloadItem.position))).label("rank")
        heads = (sa.select(col(YoutubeDownloadItem.id).label("id"), col(YoutubeDownloadItem.user_id).label("user_id"),
                           col(YoutubeDownloadItem.download_id).label("download_id"),
                           col(YoutubeDownloadItem.position).label("position"), rank)
                 .where(col(YoutubeDownloadItem.status) == ItemState.QUEUED.value).subquery())
        candidates = (await session.exec(
            select(heads.c.id, heads.c.user_id, heads.c.download_id, heads.c.position).where(heads.c.rank == 1)
        )).all()
        if not candidates:
            return None
        pick = min(candidates, key=lambda c: (running.get(c[1], 0), c[2], c[3]))
        now = utcnow()
        result = await session.exec(
            sa.update(YoutubeDownloadItem)
            .where(col(YoutubeDownloadItem.id) == pick[0], col(YoutubeDownloadItem.status) == ItemState.QUEUED.value)
            .values(status=ItemState.DOWNLOADING.value, claimed_by=WORKER, lease_until=now + lease(settings),
                    attempts=YoutubeDownloadItem.attempts + 1, started_at=now, error=None, error_kind=None,
                    cancel_requested=False))
        await session.commit()
        if result.rowcount == 1 and pick[0] is not None:
            return int(pick[0])
    return None


async def run_next(settings: Settings) -> RunOutcome:
    """Take a slot of this process, claim the fairest item and run it to its end."""
    async with _slot(settings):
        async with session_scope() as session:
            item_id = await claim(session, settings=settings)
        if item_id is None:
            return RunOutcome()
        return await run_claimed(item_id, settings)


async def _load(item_id: int) -> tuple[YoutubeDownloadItem, YoutubeDownload, User, bool] | None:
    """The item, its download and member, and whether the download was running already."""
    async with session_scope() as session:
        item = await session.get(YoutubeDownloadItem, item_id)
        if item is None:
            return None
        download = await session.get(YoutubeDownload, item.download_id)
        member = await session.get(User, item.user_id)
        if download is None or member is None:
            return None
        was_running = download.status == DownloadState.RUNNING.value
        if download.status == DownloadState.QUEUED.value:
            download.status = DownloadState.RUNNING.value
            session.add(download)
            await session.commit()
            await session.refresh(download)
        return item, download, member, was_running


async def run_claimed(item_id: int, settings: Settings) -> RunOutcome:
    loaded = await _load(item_id)
    if loaded is None:
        return RunOutcome(item_id=item_id)
    item, download, member, was_running = loaded
    mine = Claim(item_id, item.attempts)
    if not mine.owns(item.claimed_by, item.attempts):
        return RunOutcome(item_id=item_id)
    if not was_running:  # the download's own state changed: its cards are read again
        await announce(member.id or 0, download.id or 0)
    root = settings.downloads_dir
    out_dir = download_path(root, download.folder)
    stem = rules.item_stem(item.position, item.title, item.entry_id, numbered=download.kind == "playlist")
    if out_dir is None:
        return await _finish(mine, ItemState.FAILED.value, error="The download folder is not valid.",
                             kind="disk")
    archive = archive_path(root, item.user_id)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        archive.parent.mkdir(parents=True, exist_ok=True)
        clear_temp(root, item_id)
        job = ytdlp.ItemJob(
            url=item.url, playlist_url=download.url if download.kind == "playlist" else None,
            playlist_index=item.position if download.kind == "playlist" else None, expected_id=item.entry_id,
            output_dir=out_dir, stem=stem, temp_dir=temp_dir(root, item_id), quality=download.quality,
            max_filesize=settings.downloads_max_file_mb * 1_000_000, archive_path=archive,
            allowed_hosts=settings.downloads_hosts, allow_private=settings.downloads_allow_private,
            socket_timeout=settings.http_timeout_s, retries=3)
    except (OSError, ValueError) as exc:  # the folder cannot be made, or a name the job refuses
        logger.warning("download item %s cannot start: %r", item_id, exc)
        return await _finish(mine, ItemState.FAILED.value, kind="disk",
                             error="MediaNest could not prepare the download folder for this video.")
    cancel = asyncio.Event()
    latest: dict[str, ytdlp.Progress] = {}
    relay = ItemRelay(member.id or 0, download.id or 0, item_id)
    if was_running:  # only this row changes ("Downloading"; the admins' queue too): progress will say so
        relay.started()

    def on_progress(progress: ytdlp.Progress) -> None:
        latest["p"] = progress
        relay.report(progress)

    watcher = asyncio.create_task(_watch(mine, cancel, latest, settings))
    failed: tuple[str, str | None, str | None] | None = None  # (state, error, kind)
    try:
        result = await ytdlp.download_item(job, on_progress=on_progress, cancel=cancel, pool=_children(settings))
    except ytdlp.DownloadFailed as exc:
        logger.info("download item %s failed (%s): %s", item_id, exc.kind, exc.raw)
        if exc.kind == "cancelled":
            failed = (ItemState.CANCELLED.value, None, None)
        elif exc.kind == "disk_full":
            failed = (ItemState.PAUSED.value, PAUSED_NOTE, exc.kind)
        else:
            failed = (ItemState.FAILED.value, exc.user_message, exc.kind)
    except Exception:
        logger.exception("download item %s failed unexpectedly", item_id)
        failed = (ItemState.FAILED.value, "Something went wrong with this video.", "internal")
    finally:
        watcher.cancel()
        relay.close()
        clear_temp(root, item_id)  # before the row says so: a "Cancelled" card has nothing left behind
    if failed is not None:
        return await _finish(mine, failed[0], error=failed[1], kind=failed[2])
    if result.skipped:
        # In the member's archive: the file is here already (a worker killed right after moving
        # it), or in another of the member's downloads, or it was deleted outside MediaNest.
        earlier = existing_download(out_dir, stem) or await _earlier_file(item.user_id, item.entry_id, item_id)
        if earlier is not None:
            return await _finish(mine, ItemState.DONE.value, path=str(earlier), size=earlier.stat().st_size)
        return await _finish(mine, ItemState.FAILED.value, kind="archived",
                             error="This video was downloaded before and its file is gone; remove the old "
                                   "download to fetch it again.")
    return await _finish(mine, ItemState.DONE.value, path=str(result.path) if result.path else None,
                         size=result.size_bytes)


async def _earlier_file(user_id: int, entry_id: str, item_id: int) -> Path | None:
    """The file of the same video in another of the member's finished downloads, if it is still there."""
    async with session_scope() as session:
        paths = (await session.exec(select(YoutubeDownloadItem.file_path).where(
            YoutubeDownloadItem.user_id == user_id, YoutubeDownloadItem.entry_id == entry_id,
            YoutubeDownloadItem.status == ItemState.DONE.value, col(YoutubeDownloadItem.id) != item_id,
            col(YoutubeDownloadItem.file_path).is_not(None)))).all()
    return next((Path(p) for p in paths if p and Path(p).is_file()), None)


async def _watch(mine: Claim, cancel: asyncio.Event, latest: dict[str, ytdlp.Progress],
                 settings: Settings) -> None:
    """While the item runs: notice a cancel (or a lost claim) within a quarter second, renew
    the lease."""
    item_id = mine.item_id
    renewed = time.monotonic()
    while True:
        await asyncio.sleep(CANCEL_POLL_S)
        try:
            async with session_scope() as session:
                row = (await session.exec(select(YoutubeDownloadItem.cancel_requested, YoutubeDownloadItem.status,
                                                 YoutubeDownloadItem.claimed_by, YoutubeDownloadItem.attempts)
                                          .where(YoutubeDownloadItem.id == item_id))).first()
                if row is None or row[0] or row[1] not in (ItemState.DOWNLOADING.value, ItemState.PROCESSING.value) \
                        or not mine.owns(row[2], row[3]):
                    cancel.set()
                    return
                if time.monotonic() - renewed >= renew_every_s(settings):
                    renewed = time.monotonic()
                    progress = latest.get("p")
                    values: dict[str, object] = {"lease_until": utcnow() + lease(settings)}
                    if progress is not None:
                        values["downloaded_bytes"] = progress.downloaded_bytes or 0
                        values["total_bytes"] = progress.total_bytes
                        if progress.phase == "processing":
                            values["status"] = ItemState.PROCESSING.value
                    await session.exec(sa.update(YoutubeDownloadItem).where(
                        col(YoutubeDownloadItem.id) == item_id, col(YoutubeDownloadItem.claimed_by) == WORKER,
                        col(YoutubeDownloadItem.attempts) == mine.attempt).values(**values))
                    await session.commit()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a database blip must not stop the download; the lease covers it
            logger.warning("download watcher of item %s: %s", item_id, type(exc).__name__)


async def _finish(mine: Claim, state: str, *, error: str | None = None, kind: str | None = None,
                  path: str | None = None, size: int | None = None) -> RunOutcome:
    item_id = mine.item_id
    async with session_scope() as session:
        # Locked, so the watchdog cannot put the item back between this check and the write.
        item = await session.get(YoutubeDownloadItem, item_id, with_for_update=True)
        if item is None:
            return RunOutcome(item_id=item_id)
        if not mine.owns(item.claimed_by, item.attempts):
            logger.warning("download item %s: this worker lost its claim (the lease ran out); its %s is not "
                           "recorded", item_id, state)
            return RunOutcome(item_id=item_id)
        item.status, item.error, item.error_kind = state, error, kind
        item.claimed_by, item.lease_until, item.cancel_requested = None, None, False
        if state in (ItemState.DONE.value, ItemState.FAILED.value, ItemState.CANCELLED.value):
            item.finished_at = utcnow()
        if path is not None:
            item.file_path = path
        if size is not None:
            item.total_bytes = item.downloaded_bytes = size
        session.add(item)
        await session.flush()
        # Items of one download end at the same moment (DOWNLOAD_CONCURRENCY > 1) and each settles the
        # download from all its items: under the download's row lock (taken after the item's, as
        # cancel does) the later one sees the earlier one's item. Without it both saw the other still
        # running and the download stayed "running" for good, never reaching Plex.
        download = await session.get(YoutubeDownload, item.download_id, with_for_update=True)
        before = download.status if download is not None else ""
        new = await settle(session, download) if download is not None else ""
        await session.commit()
        # Plex's turn comes once: to the item whose end completed the download.
        ready = new == DownloadState.ADDING.value and before != DownloadState.ADDING.value
        outcome = RunOutcome(item_id=item_id, download_id=item.download_id, user_id=item.user_id, state=state,
                             ready_for_plex=ready)
        # While the download runs on, only this item's row changed: it travels with the event (a
        # pause also changes the card's note: read again).
        row = views.item_row(item) if before == new == DownloadState.RUNNING.value and state in (
            ItemState.DONE.value, ItemState.FAILED.value, ItemState.CANCELLED.value) else None
    if row is not None:
        await item_ended(outcome.user_id or 0, outcome.download_id or 0, row)
    else:
        await announce(outcome.user_id or 0, outcome.download_id or 0)
    return outcome


async def watchdog(session: AsyncSession, *, settings: Settings) -> list[int]:
    """Put back items whose worker vanished (lease run out) and paused items once the disk has
    room again. Returns the item ids to queue a task for."""
    now = utcnow()
    # Rows locked (and those another watchdog or a finishing worker holds skipped), so two
    # watchdogs never put back the same item, nor one a worker is recording right now.
    stale = (await session.exec(select(YoutubeDownloadItem).where(
        col(YoutubeDownloadItem.status).in_([ItemState.DOWNLOADING.value, ItemState.PROCESSING.value]),
        col(YoutubeDownloadItem.lease_until) < now).with_for_update(skip_locked=True))).all()
    again: list[int] = []
    touched: set[int] = set()
    for item in stale:
        clear_temp(settings.downloads_dir, item.id or 0)
        touched.add(item.download_id)
        if item.cancel_requested:  # cancelled while its worker was gone: stays cancelled
            item.status, item.claimed_by, item.lease_until = ItemState.CANCELLED.value, None, None
            item.cancel_requested, item.finished_at = False, now
        elif item.attempts >= MAX_ATTEMPTS:
            item.status, item.error, item.error_kind = (ItemState.FAILED.value,
                                                        "The download stopped several times; retry it.", "stalled")
            item.finished_at = now
        else:
            item.status, item.claimed_by, item.lease_until = ItemState.QUEUED.value, None, None
            again.append(item.id or 0)
        session.add(item)
        logger.warning("download item %s: its worker vanished (lease ran out); now %s", item.id, item.status)
    if await pause_reason(session, settings) is None:
        paused = (await session.exec(select(YoutubeDownloadItem).where(
            YoutubeDownloadItem.status == ItemState.PAUSED.value))).all()
        for item in paused:
            item.status, item.error, item.error_kind = ItemState.QUEUED.value, None, None
            session.add(item)
            again.append(item.id or 0)
            touched.add(item.download_id)
    # A download whose items all ended but whose state did not follow (nothing else moves it).
    stuck = (await session.exec(select(YoutubeDownload.id).where(
        col(YoutubeDownload.status).in_([DownloadState.QUEUED.value, DownloadState.RUNNING.value]),
        ~sa.exists().where(col(YoutubeDownloadItem.download_id) == YoutubeDownload.id,
                           col(YoutubeDownloadItem.status).in_(OPEN_ITEM_STATES))))).all()
    touched.update(int(d) for d in stuck if d is not None)
    owners: list[tuple[int, int]] = []
    for download_id in touched:
        download = await session.get(YoutubeDownload, download_id)
        if download is not None:
            await settle(session, download)
            owners.append((download.user_id, download_id))
    await session.commit()
    for user_id, download_id in owners:
        await announce(user_id, download_id)
    return again


async def queued_without_runner(session: AsyncSession) -> int:
    """How many items are queued while nothing runs anywhere (a lost task message): the
    watchdog queues that many tasks again (a surplus task finds nothing and ends)."""
    running = await running_counts(session)
    if running:
        return 0
    count = (await session.exec(select(sa.func.count()).select_from(YoutubeDownloadItem).where(
        YoutubeDownloadItem.status == ItemState.QUEUED.value))).one()
    return int(count)
