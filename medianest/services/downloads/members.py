"""What a member does with downloads: preview a link, send it (rows first, then the tasks),
cancel, retry, remove, keep a playlist in sync. Admins may act on anyone's download; a member
only on their own (someone else's id is "not found", never "forbidden", so ids reveal nothing)."""

from __future__ import annotations

import asyncio
import logging
import math
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ...config import Settings
from ...db import as_utc
from ...errors import NotFound, RateLimited, ValidationFailed
from ...integrations import ytdlp
from ...models import (
    OPEN_ITEM_STATES,
    AuditLog,
    DownloadState,
    ItemState,
    User,
    YoutubeDownload,
    YoutubeDownloadItem,
    utcnow,
)
from .. import audit
from ..ratelimit import Limit, RateLimiter, humanize_wait
from . import rules
from .files import archive_forget, download_path, remove_item_files

logger = logging.getLogger(__name__)

#: What a preview found (kept server-side by the page between preview and download).
Found = ytdlp.Preview
PREVIEW_LIMIT = Limit("download-preview", 20, 60)
PREVIEWS_AT_ONCE = 4
_preview_slots: dict[int, asyncio.Semaphore] = {}


@dataclass(frozen=True)
class Choice:
    """What the member chose under the preview."""

    entry_ids: tuple[str, ...]
    quality: str = "best"
    make_collection: bool = True


def link_rules(settings: Settings) -> dict[str, object]:
    return {"allowed_hosts": settings.downloads_hosts, "allow_private": settings.downloads_allow_private}


async def preview(url: str, *, settings: Settings, limiter: RateLimiter | None = None,
                  user_id: int = 0) -> ytdlp.Preview:
    """Look at a link without downloading anything. Each preview starts a yt-dlp process, so a
    member gets ``PREVIEW_LIMIT`` of them a minute, and a process runs at most ``PREVIEWS_AT_ONCE``.

    Raises:
        ValidationFailed: a plain sentence (bad or refused link, private or removed video…).
        RateLimited: too many previews.
    """
    url = (url or "").strip()
    if not url:
        raise ValidationFailed("Paste a link to a video or a playlist.")
    if limiter is not None:
        await limiter.hit(PREVIEW_LIMIT, f"user:{user_id}", message="You previewed many links in a short time.")
    async with _previews():
        return await _preview(url, settings=settings)


def _previews() -> asyncio.Semaphore:
    loop_id = id(asyncio.get_running_loop())
    if loop_id not in _preview_slots:
        _preview_slots[loop_id] = asyncio.Semaphore(PREVIEWS_AT_ONCE)
    return _preview_slots[loop_id]


async def _preview(url: str, *, settings: Settings) -> ytdlp.Preview:
    if len(url) > 2048:
        raise ValidationFailed("That link is too long to be a video or playlist link.")
    try:
        link = await ytdlp.check_link(url, allowed_hosts=settings.downloads_hosts,
                                      allow_private=settings.downloads_allow_private)
        return await ytdlp.preview(link.url, max_entries=settings.downloads_max_entries,
                                   timeout_s=max(settings.http_timeout_s * 3, 15.0),
                                   allowed_hosts=settings.downloads_hosts,
                                   allow_private=settings.downloads_allow_private)
    except ytdlp.DownloadFailed as exc:  # a refused link is already a ValidationFailed
        logger.info("preview refused (%s): %s", exc.kind, exc.raw)
        raise ValidationFailed(exc.user_message) from exc


async def check_hourly_limit(session: AsyncSession, user_id: int, limit: int) -> None:
    """At most ``limit`` downloads per member per hour (``DOWNLOAD_LIMIT_PER_HOUR``), counted
    from the audit log's ``download.created`` rows: they survive a removed download, restarts,
    and are the same in every process."""
    since = utcnow() - timedelta(hours=1)
    stamps = (await session.exec(
        select(AuditLog.created_at).where(AuditLog.actor_user_id == user_id, AuditLog.action == "download.created",
                                          AuditLog.created_at > since)
        .order_by(col(AuditLog.created_at)))).all()
    if len(stamps) >= limit:
        oldest = as_utc(stamps[len(stamps) - limit])
        assert oldest is not None
        wait = max(1, math.ceil((oldest + timedelta(hours=1) - utcnow()).total_seconds()))
        raise RateLimited(f"You have started {limit} downloads in the last hour, the most allowed. "
                          f"You can download again in {humanize_wait(wait)}.", retry_after=wait)


async def submit(session: AsyncSession, *, user_id: int, username: str, found: ytdlp.Preview, choice: Choice,
                 settings: Settings) -> tuple[YoutubeDownload, list[int]]:
    """Save the download and its chosen items (committed before any task is queued).

    Returns:
        The download and the ids of its items, each to be queued as a task of its own.

    Raises:
        ValidationFailed: nothing chosen, an unknown entry, a bad quality, already downloaded.
        RateLimited: the member's hourly limit.
    """
    if choice.quality not in rules.QUALITIES:
        raise ValidationFailed("Choose one of the qualities offered.")
    by_id = {e.id: e for e in found.entries}
    wanted = set(choice.entry_ids)
    chosen, seen = [], set()
    for entry in found.entries:  # a playlist may hold one video twice: it is downloaded once
        if entry.id in wanted and entry.id not in seen and 0 < len(entry.id) <= 255:
            seen.add(entry.id)
            chosen.append(entry)
    if not chosen:
        raise ValidationFailed("Tick at least one video to download.")
    if len(set(choice.entry_ids) - set(by_id)) > 0:
        raise ValidationFailed("The playlist changed since the preview; preview the link again.")
    if len(chosen) > settings.downloads_max_entries:
        raise ValidationFailed(f"At most {settings.downloads_max_entries} videos can be sent at once.")
    # One submission at a time per member (PostgreSQL row lock; SQLite serialises writers).
    await session.exec(select(User.id).where(User.id == user_id).with_for_update())
    await check_hourly_limit(session, user_id, settings.downloads_per_hour)
    same = (await session.exec(select(YoutubeDownload).where(
        YoutubeDownload.user_id == user_id, YoutubeDownload.source_id == found.id,
        YoutubeDownload.kind == found.kind,
        col(YoutubeDownload.status).notin_([DownloadState.CANCELLED.value, DownloadState.FAILED.value])))).first()
    if same is not None:
        what = "playlist" if found.kind == "playlist" else "video"
        raise ValidationFailed(f"You already sent this {what} to Plex ({same.title}). "
                               + ("Turn on “Keep in sync” there to get its new videos."
                                  if found.kind == "playlist" else "Remove it first to download it again."))
    # Unique among everyone's folders: two accounts may share a name (and so a member folder).
    taken = (await session.exec(select(YoutubeDownload.folder))).all()
    is_playlist = found.kind == "playlist"
    title = (found.title or found.id or "Video").strip()
    folder = rules.download_folder(username, user_id, title, taken)
    download = YoutubeDownload(
        user_id=user_id, url=found.webpage_url, kind=found.kind, source_id=found.id[:255], title=title[:512],
        uploader=(found.uploader or None) and found.uploader[:255], thumbnail_url=found.thumbnail_url,
        quality=choice.quality, folder=folder, make_collection=is_playlist and choice.make_collection,
        status=DownloadState.QUEUED.value)
    session.add(download)
    await session.flush()
    assert download.id is not None
    items = [YoutubeDownloadItem(download_id=download.id, user_id=user_id, position=e.index, entry_id=e.id,
                                 title=(e.title or e.id)[:512], url=e.url, duration_s=e.duration_s)
             for e in chosen]
    session.add_all(items)
    await audit.record(session, "download.created", actor_user_id=user_id, target=f"download:{download.id}",
                       entries=len(items), kind=found.kind)
    await session.commit()
    return download, [i.id for i in items if i.id is not None]


async def owned(session: AsyncSession, download_id: int, *, user_id: int, is_admin: bool) -> YoutubeDownload:
    """The download, if this caller may act on it."""
    row = await session.get(YoutubeDownload, int(download_id))
    if row is None or (row.user_id != user_id and not is_admin):
        raise NotFound("That download no longer exists.")
    return row


async def items_of(session: AsyncSession, download_id: int) -> list[YoutubeDownloadItem]:
    return list((await session.exec(select(YoutubeDownloadItem).where(
        YoutubeDownloadItem.download_id == download_id).order_by(col(YoutubeDownloadItem.position)))).all())


async def settle(session: AsyncSession, download: YoutubeDownload) -> str:
    """Set the download's state from its items (the caller commits)."""
    states = [i.status for i in await items_of(session, download.id or 0)]
    new = rules.download_state(states)
    if new == DownloadState.ADDING.value and download.status in (DownloadState.DONE.value,
                                                                 DownloadState.WAITING_PLEX.value):
        new = download.status if download.status == DownloadState.WAITING_PLEX.value else DownloadState.ADDING.value
    if new != download.status:
        download.status = new
        download.updated_at = utcnow()
        if new in (DownloadState.FAILED.value, DownloadState.CANCELLED.value):
            download.finished_at = utcnow()
            download.note = None
    session.add(download)
    return new


async def cancel(session: AsyncSession, download_id: int, *, user_id: int, is_admin: bool,
                 item_id: int | None = None) -> YoutubeDownload:
    """Cancel the whole download or one item: queued items at once, running ones through their
    task (it sees ``cancel_requested`` within half a second and stops the download)."""
    download = await owned(session, download_id, user_id=user_id, is_admin=is_admin)
    items = [i for i in await items_of(session, download.id or 0) if item_id is None or i.id == int(item_id)]
    if item_id is not None and not items:
        raise NotFound("That video is not part of this download.")
    changed = 0
    for item in items:
        if item.status in (ItemState.QUEUED.value, ItemState.PAUSED.value):
            item.status, item.finished_at, item.error = ItemState.CANCELLED.value, utcnow(), None
            changed += 1
        elif item.status in (ItemState.DOWNLOADING.value, ItemState.PROCESSING.value):
            item.cancel_requested = True
            changed += 1
        session.add(item)
    if not changed:
        raise ValidationFailed("There is nothing left to cancel in this download.")
    if item_id is None:
        download.keep_in_sync = False
    await settle(session, download)
    await audit.record(session, "download.cancelled", actor_user_id=user_id, target=f"download:{download.id}",
                       item=item_id, by_admin=download.user_id != user_id)
    await session.commit()
    return download


async def retry(session: AsyncSession, download_id: int, *, user_id: int, is_admin: bool,
                item_id: int | None = None) -> tuple[YoutubeDownload, list[int]]:
    """Queue failed or cancelled items again (one, or all of the download's).

    Returns:
        The download and the item ids to queue as tasks.
    """
    download = await owned(session, download_id, user_id=user_id, is_admin=is_admin)
    again = [i for i in await items_of(session, download.id or 0)
             if (item_id is None or i.id == int(item_id))
             and i.status in (ItemState.FAILED.value, ItemState.CANCELLED.value)]
    if not again:
        if download.status == DownloadState.WAITING_PLEX.value:
            return download, []
        raise ValidationFailed("There is nothing to retry in this download.")
    for item in again:
        item.status, item.error, item.error_kind = ItemState.QUEUED.value, None, None
        item.cancel_requested, item.finished_at, item.downloaded_bytes = False, None, 0
        session.add(item)
    download.finished_at = None
    download.status = DownloadState.RUNNING.value
    await settle(session, download)
    await session.commit()
    return download, [i.id for i in again if i.id is not None]


async def set_sync(session: AsyncSession, download_id: int, *, user_id: int, is_admin: bool,
                   on: bool) -> YoutubeDownload:
    download = await owned(session, download_id, user_id=user_id, is_admin=is_admin)
    if download.kind != "playlist":
        raise ValidationFailed("Only a playlist can be kept in sync.")
    if on and download.status not in (DownloadState.DONE.value, DownloadState.WAITING_PLEX.value):
        raise ValidationFailed("A playlist can be kept in sync once its download has finished.")
    download.keep_in_sync = bool(on)
    download.synced_at = utcnow() if on else download.synced_at
    session.add(download)
    await session.commit()
    return download


async def forget(session: AsyncSession, download_id: int, *, user_id: int, is_admin: bool,
                 settings: Settings) -> tuple[YoutubeDownload, list[YoutubeDownloadItem]]:
    """Remove a finished download's rows and files (Plex is tidied by the caller afterwards).

    Raises:
        ValidationFailed: it is still running (cancel it first).
    """
    download = await owned(session, download_id, user_id=user_id, is_admin=is_admin)
    items = await items_of(session, download.id or 0)
    if any(i.status in OPEN_ITEM_STATES for i in items):
        raise ValidationFailed("This download is still running: cancel it first, then remove it.")
    claimed = as_utc(download.plex_claimed_until)
    if download.status == DownloadState.ADDING.value or (claimed is not None and claimed > utcnow()):
        raise ValidationFailed("This download is being added to Plex right now; remove it in a minute.")
    root = settings.downloads_dir
    folder = download_path(root, download.folder)
    # Only this download's own files: a video it shares with another of the member's downloads
    # lives in that one's folder and stays (and stays in the archive).
    own = [i for i in items if folder is not None and i.file_path and Path(i.file_path).parent == folder]
    for item in own:
        remove_item_files(root, item.file_path)
    if folder is not None and folder.is_dir() and not any(folder.iterdir()):
        shutil.rmtree(folder, ignore_errors=True)
    # Forget only what no other finished download of the member still holds.
    held = set((await session.exec(select(YoutubeDownloadItem.entry_id).where(
        YoutubeDownloadItem.user_id == download.user_id, col(YoutubeDownloadItem.download_id) != download.id,
        YoutubeDownloadItem.status == ItemState.DONE.value))).all())
    archive_forget(root, download.user_id, [i.entry_id for i in items if i.entry_id not in held])
    await session.exec(sa.delete(YoutubeDownloadItem).where(
        col(YoutubeDownloadItem.download_id) == download.id))
    await session.delete(download)
    await audit.record(session, "download.removed", actor_user_id=user_id, target=f"download:{download.id}",
                       title=download.title, by_admin=download.user_id != user_id)
    await session.commit()
    return download, items


def disk_free_bytes(root: Path) -> int | None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(root).free
    except OSError:
        return None
