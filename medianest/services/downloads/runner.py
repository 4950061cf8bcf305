"""Running download items: a fair claim under a lease, the download itself through the yt-dlp
seam (a child process per item), progress to the live bridge, and the watchdog that puts back
what a vanished worker left.

Each item is queued as a task of its own; a task takes a slot of this process (at most
``DOWNLOAD_CONCURRENCY`` at once), then claims the fairest queued item (the member with the fewest
items running first, then the oldest download), which is not always the item it was queued for:
tasks and items are one to one, so every item still runs exactly once."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ... import live
from ...config import Settings
from ...db import session_scope
from ...integrations import ytdlp
from ...models import DownloadState, ItemState, User, YoutubeDownload, YoutubeDownloadItem, utcnow
from . import rules
from .files import archive_path, clear_temp, download_path, temp_dir
from .members import disk_free_bytes, settle

logger = logging.getLogger(__name__)

WORKER = f"{socket.gethostname()}-{os.getpid()}"
LEASE_S = 60.0
RENEW_EVERY_S = 10.0
CANCEL_POLL_S = 0.25
PROGRESS_EVERY_S = 0.3
MAX_ATTEMPTS = 3
PAUSED_NOTE = "Paused: the download disk is almost full"

_slots: dict[int, asyncio.Semaphore] = {}


def _slot(settings: Settings) -> asyncio.Semaphore:
    loop_id = id(asyncio.get_running_loop())
    if loop_id not in _slots:
        _slots[loop_id] = asyncio.Semaphore(settings.downloads_concurrency)
    return _slots[loop_id]


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


async def pause_if_disk_full(session: AsyncSession, settings: Settings) -> bool:
    """Below ``DOWNLOAD_MIN_FREE_MB`` free, queued items wait as "Paused" instead of failing."""
    free = disk_free_bytes(settings.downloads_dir)
    if free is None or free >= settings.downloads_min_free_mb * 1_000_000:
        return False
    await session.exec(sa.update(YoutubeDownloadItem)
                       .where(col(YoutubeDownloadItem.status) == ItemState.QUEUED.value)
                       .values(status=ItemState.PAUSED.value, error=PAUSED_NOTE))
    await session.commit()
    return True


async def claim(session: AsyncSession, *, settings: Settings, now_s: float | None = None) -> int | None:
    """Claim the fairest queued item for this worker; None if there is none (or the disk is full)."""
    if await pause_if_disk_full(session, settings):
        return None
    for _ in range(8):
        running = await running_counts(session)
        candidates = (await session.exec(
            select(YoutubeDownloadItem.id, YoutubeDownloadItem.user_id, YoutubeDownloadItem.download_id,
                   YoutubeDownloadItem.position)
            .where(YoutubeDownloadItem.status == ItemState.QUEUED.value)
            .order_by(col(YoutubeDownloadItem.download_id), col(YoutubeDownloadItem.position)).limit(500))).all()
        if not candidates:
            return None
        pick = min(candidates, key=lambda c: (running.get(c[1], 0), c[2], c[3]))
        now = utcnow()
        result = await session.exec(
            sa.update(YoutubeDownloadItem)
            .where(col(YoutubeDownloadItem.id) == pick[0], col(YoutubeDownloadItem.status) == ItemState.QUEUED.value)
            .values(status=ItemState.DOWNLOADING.value, claimed_by=WORKER, lease_until=now + timedelta(seconds=LEASE_S),
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


async def _load(item_id: int) -> tuple[YoutubeDownloadItem, YoutubeDownload, User] | None:
    async with session_scope() as session:
        item = await session.get(YoutubeDownloadItem, item_id)
        if item is None:
            return None
        download = await session.get(YoutubeDownload, item.download_id)
        member = await session.get(User, item.user_id)
        if download is None or member is None:
            return None
        if download.status == DownloadState.QUEUED.value:
            download.status = DownloadState.RUNNING.value
            session.add(download)
            await session.commit()
            await session.refresh(download)
        return item, download, member


async def run_claimed(item_id: int, settings: Settings) -> RunOutcome:
    loaded = await _load(item_id)
    if loaded is None:
        return RunOutcome(item_id=item_id)
    item, download, member = loaded
    await announce(member.id or 0, download.id or 0)
    root = settings.downloads_dir
    out_dir = download_path(root, download.folder)
    member_dir = rules.member_folder(member.username, member.id or 0)
    stem = rules.item_stem(item.position, item.title, item.entry_id, numbered=download.kind == "playlist")
    if out_dir is None:
        return await _finish(item_id, ItemState.FAILED.value, error="The download folder is not valid.",
                             kind="disk")
    out_dir.mkdir(parents=True, exist_ok=True)
    clear_temp(root, item_id)
    job = ytdlp.ItemJob(
        url=item.url, playlist_url=download.url if download.kind == "playlist" else None,
        playlist_index=item.position if download.kind == "playlist" else None, expected_id=item.entry_id,
        output_dir=out_dir, stem=stem, temp_dir=temp_dir(root, item_id), quality=download.quality,
        max_filesize=settings.downloads_max_file_mb * 1_000_000, archive_path=archive_path(root, member_dir),
        allowed_hosts=settings.downloads_hosts, allow_private=settings.downloads_allow_private,
        socket_timeout=settings.http_timeout_s, retries=3)
    cancel = asyncio.Event()
    latest: dict[str, ytdlp.Progress] = {}
    last_sent = [0.0]
    sent: set[asyncio.Task[None]] = set()

    def on_progress(progress: ytdlp.Progress) -> None:
        latest["p"] = progress
        now = time.monotonic()
        if now - last_sent[0] >= PROGRESS_EVERY_S or progress.phase != "downloading":
            last_sent[0] = now
            task = asyncio.get_running_loop().create_task(
                publish_progress(member.id or 0, download.id or 0, item_id, progress))
            sent.add(task)
            task.add_done_callback(sent.discard)

    watcher = asyncio.create_task(_watch(item_id, cancel, latest))
    try:
        result = await ytdlp.download_item(job, on_progress=on_progress, cancel=cancel)
    except ytdlp.DownloadFailed as exc:
        logger.info("download item %s failed (%s): %s", item_id, exc.kind, exc.raw)
        if exc.kind == "cancelled":
            return await _finish(item_id, ItemState.CANCELLED.value)
        if exc.kind == "disk_full":
            return await _finish(item_id, ItemState.PAUSED.value, error=PAUSED_NOTE, kind=exc.kind)
        return await _finish(item_id, ItemState.FAILED.value, error=exc.user_message, kind=exc.kind)
    except Exception:
        logger.exception("download item %s failed unexpectedly", item_id)
        return await _finish(item_id, ItemState.FAILED.value, error="Something went wrong with this video.",
                             kind="internal")
    finally:
        watcher.cancel()
        clear_temp(root, item_id)
    if result.skipped:
        return await _finish(item_id, ItemState.DONE.value, error="Already downloaded before.", path=None)
    return await _finish(item_id, ItemState.DONE.value, path=str(result.path) if result.path else None,
                         size=result.size_bytes)


async def _watch(item_id: int, cancel: asyncio.Event, latest: dict[str, ytdlp.Progress]) -> None:
    """While the item runs: notice a cancel within a quarter second, renew the lease."""
    renewed = time.monotonic()
    while True:
        await asyncio.sleep(CANCEL_POLL_S)
        try:
            async with session_scope() as session:
                row = (await session.exec(select(YoutubeDownloadItem.cancel_requested, YoutubeDownloadItem.status)
                                          .where(YoutubeDownloadItem.id == item_id))).first()
                if row is None or row[0] or row[1] not in (ItemState.DOWNLOADING.value, ItemState.PROCESSING.value):
                    cancel.set()
                    return
                if time.monotonic() - renewed >= RENEW_EVERY_S:
                    renewed = time.monotonic()
                    progress = latest.get("p")
                    values: dict[str, object] = {"lease_until": utcnow() + timedelta(seconds=LEASE_S)}
                    if progress is not None:
                        values["downloaded_bytes"] = progress.downloaded_bytes or 0
                        values["total_bytes"] = progress.total_bytes
                        if progress.phase == "processing":
                            values["status"] = ItemState.PROCESSING.value
                    await session.exec(sa.update(YoutubeDownloadItem)
                                       .where(col(YoutubeDownloadItem.id) == item_id).values(**values))
                    await session.commit()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a database blip must not stop the download; the lease covers it
            logger.warning("download watcher of item %s: %s", item_id, type(exc).__name__)


async def _finish(item_id: int, state: str, *, error: str | None = None, kind: str | None = None,
                  path: str | None = None, size: int | None = None) -> RunOutcome:
    async with session_scope() as session:
        item = await session.get(YoutubeDownloadItem, item_id)
        if item is None:
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
    await announce(outcome.user_id or 0, outcome.download_id or 0)
    return outcome


async def watchdog(session: AsyncSession, *, settings: Settings) -> list[int]:
    """Put back items whose worker vanished (lease run out) and paused items once the disk has
    room again. Returns the item ids to queue a task for."""
    now = utcnow()
    stale = (await session.exec(select(YoutubeDownloadItem).where(
        col(YoutubeDownloadItem.status).in_([ItemState.DOWNLOADING.value, ItemState.PROCESSING.value]),
        col(YoutubeDownloadItem.lease_until) < now))).all()
    again: list[int] = []
    touched: set[int] = set()
    for item in stale:
        clear_temp(settings.downloads_dir, item.id or 0)
        touched.add(item.download_id)
        if item.attempts >= MAX_ATTEMPTS:
            item.status, item.error, item.error_kind = (ItemState.FAILED.value,
                                                        "The download stopped several times; retry it.", "stalled")
            item.finished_at = now
        else:
            item.status, item.claimed_by, item.lease_until = ItemState.QUEUED.value, None, None
            again.append(item.id or 0)
        session.add(item)
        logger.warning("download item %s: its worker vanished (lease ran out); %s", item.id,
                       "queued again" if item.status == ItemState.QUEUED.value else "failed")
    free = disk_free_bytes(settings.downloads_dir)
    if free is not None and free >= settings.downloads_min_free_mb * 1_000_000:
        paused = (await session.exec(select(YoutubeDownloadItem).where(
            YoutubeDownloadItem.status == ItemState.PAUSED.value))).all()
        for item in paused:
            item.status, item.error, item.error_kind = ItemState.QUEUED.value, None, None
            session.add(item)
            again.append(item.id or 0)
            touched.add(item.download_id)
    for download_id in touched:
        download = await session.get(YoutubeDownload, download_id)
        if download is not None:
            await settle(session, download)
    await session.commit()
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


async def announce(user_id: int, download_id: int) -> None:
    """A download changed: the member's and the admins' download lists reload (best effort)."""
    if user_id:
        await live.publish({"type": "downloads", "user_id": int(user_id), "download_id": int(download_id)})


async def publish_progress(user_id: int, download_id: int, item_id: int, progress: ytdlp.Progress) -> None:
    await live.publish({
        "type": "download-progress", "user_id": user_id, "download_id": download_id, "item_id": item_id,
        "phase": progress.phase, "downloaded": progress.downloaded_bytes, "total": progress.total_bytes,
        "speed": progress.speed, "eta": progress.eta, "at": time.time(),
    })
