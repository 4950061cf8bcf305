"""Keeping a playlist in sync: new entries of a finished playlist download are added to it (same
folder, same collection); entries already downloaded are never fetched again (the member's
download archive)."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ...config import Settings
from ...db import as_utc
from ...errors import ValidationFailed
from ...models import DownloadState, YoutubeDownload, YoutubeDownloadItem, utcnow
from .members import items_of, preview, settle

logger = logging.getLogger(__name__)


async def due(session: AsyncSession, *, settings: Settings) -> list[int]:
    """Playlists kept in sync whose last check is older than ``DOWNLOAD_SYNC_INTERVAL_HOURS``."""
    before = utcnow() - timedelta(hours=settings.downloads_sync_hours)
    rows = (await session.exec(select(YoutubeDownload).where(col(YoutubeDownload.keep_in_sync).is_(True)))).all()
    return [d.id for d in rows
            if d.id is not None and (d.synced_at is None or (as_utc(d.synced_at) or before) <= before)]


async def sync_one(session: AsyncSession, download_id: int, *, settings: Settings) -> list[int]:
    """Look at the playlist again and add its new entries. Returns the new item ids to queue."""
    download = await session.get(YoutubeDownload, download_id)
    if download is None or not download.keep_in_sync or download.kind != "playlist":
        return []
    download.synced_at = utcnow()
    session.add(download)
    await session.commit()
    try:
        found = await preview(download.url, settings=settings)
    except ValidationFailed as exc:
        logger.info("sync of download %s: %s", download_id, exc)
        return []
    have = {i.entry_id for i in await items_of(session, download_id)}
    new = []
    for entry in found.entries:  # once each, like a new download
        if entry.id not in have and 0 < len(entry.id) <= 255:
            have.add(entry.id)
            new.append(entry)
    if not new:
        return []
    items = [YoutubeDownloadItem(download_id=download_id, user_id=download.user_id, position=e.index,
                                 entry_id=e.id, title=(e.title or e.id)[:512], url=e.url, duration_s=e.duration_s)
             for e in new]
    session.add_all(items)
    download.status = DownloadState.RUNNING.value
    download.finished_at = None
    await session.flush()
    await settle(session, download)
    await session.commit()
    logger.info("sync of download %s: %s new entries", download_id, len(items))
    return [i.id for i in items if i.id is not None]
