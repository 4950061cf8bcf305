"""The last step of a download: Plex scans just its folder, MediaNest waits for the items and
makes (or updates) the playlist's collection; the member is told. When Plex does not answer the
download waits ("Waiting for Plex") and the watchdog finishes it once Plex is back."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ...config import Settings
from ...errors import IntegrationRejected, IntegrationUnavailable
from ...integrations.plex import LibraryItem, LibrarySection, PlexServerClient, watch_url
from ...models import DownloadState, ItemState, User, YoutubeDownload, utcnow
from .. import notifications
from . import rules
from .members import items_of

logger = logging.getLogger(__name__)

SCAN_WAIT_S = 60.0
SCAN_POLL_S = 1.0
#: The Plex step's lease: longer than one run can take (the scan wait plus the calls around it).
PLEX_STEP_LEASE_S = SCAN_WAIT_S + 60
#: After this many runs that found Plex answering but not listing the files, the download ends
#: with a note instead of waiting for ever (a library that cannot read the folder).
MAX_SCAN_ATTEMPTS = 10
NO_PLEX_NOTE = "Saved on the server; no Plex server is set up yet."
AUDIO_NOTE = "Saved as audio on the server; Plex's video library does not list audio files."


@dataclass(frozen=True)
class PlexPlace:
    section: LibrarySection
    folder: str    # the download's folder as Plex sees it
    location: str  # the library folder that stands for the downloads root


def plex_folder(location: str, folder: str) -> str:
    """Plex may see the downloads root under another path (a container mount): the section's
    location that stands for the root, plus the download's folder."""
    return str(PurePosixPath(location.rstrip("/") or "/") / PurePosixPath(folder))


async def find_place(plex: PlexServerClient, settings: Settings, folder: str) -> PlexPlace | None:
    """The library serving the downloads root (by folder, else by name) and the download's
    folder as Plex sees it."""
    sections = await plex.sections()
    root = str(settings.downloads_dir.resolve()).rstrip("/")
    wanted = settings.plex_downloads_library.strip().casefold()
    for section in sections:
        for location in section.locations:
            if location.rstrip("/") == root:
                return PlexPlace(section, plex_folder(location, folder), location)
    named = next((s for s in sections if s.title.strip().casefold() == wanted), None)
    if named is None:
        return None
    location = named.locations[0] if named.locations else root
    return PlexPlace(named, plex_folder(location, folder), location)


async def claim_plex_step(session: AsyncSession, download_id: int) -> bool:
    """Take the download's Plex step (one task at a time: a second would make a second collection)."""
    now = utcnow()
    result = await session.exec(sa.update(YoutubeDownload).where(
        col(YoutubeDownload.id) == download_id,
        col(YoutubeDownload.status).in_([DownloadState.ADDING.value, DownloadState.WAITING_PLEX.value]),
        sa.or_(col(YoutubeDownload.plex_claimed_until).is_(None), col(YoutubeDownload.plex_claimed_until) < now))
        .values(plex_claimed_until=now + timedelta(seconds=PLEX_STEP_LEASE_S)))
    await session.commit()
    return bool(result.rowcount == 1)


async def finish(session: AsyncSession, download_id: int, *, plex: PlexServerClient | None,
                 settings: Settings, machine_id: str | None) -> str:
    """Put a finished download into Plex. Returns the download's new state."""
    if not await claim_plex_step(session, download_id):
        row = await session.get(YoutubeDownload, download_id)
        return row.status if row else ""
    download = await session.get(YoutubeDownload, download_id)
    if download is None:
        return ""
    await session.refresh(download)  # what the previous holder saved (collection key, title)
    items = [i for i in await items_of(session, download_id) if i.status == ItemState.DONE.value and i.file_path]
    member = await session.get(User, download.user_id)
    await session.commit()  # no transaction is held across the calls to Plex
    if plex is None:
        return await _done(session, download, note=NO_PLEX_NOTE, link="/downloads")
    if download.quality == "audio":
        return await _done(session, download, note=AUDIO_NOTE, link="/downloads")
    if not items:
        return await _done(session, download, note="Nothing new reached Plex: no video of it was downloaded.",
                           link="/downloads")
    try:
        place = await find_place(plex, settings, download.folder)
        if place is None:
            return await _wait(session, download, f"Waiting for Plex: no Plex library named "
                                                  f"“{settings.plex_downloads_library}” serves the downloads folder.")
        # Usually one folder; a video the member had already downloaded into another of their
        # folders stays there and is added to this collection from there.
        by_folder: dict[str, set[str]] = {}
        for item in items:
            path = Path(item.file_path or "")
            by_folder.setdefault(_relative(settings, path.parent, download.folder), set()).add(path.name)
        places = {rel: PlexPlace(place.section, plex_folder(place.location, rel), place.location)
                  for rel in by_folder}
        for spot in places.values():
            await plex.scan(spot.section.key, path=spot.folder)
        found: list[LibraryItem] = []
        for rel, names in by_folder.items():
            seen = await _wait_for_items(plex, places[rel], names)
            if len(seen) < len(names):
                return await _wait(session, download, "Waiting for Plex to finish scanning the new videos.")
            found.extend(seen)
        link = watch_url(machine_id, found[0].rating_key) if machine_id and found else "/library"
        if download.make_collection and found:
            key = await _collect(session, plex, place, download, member, [f.rating_key for f in found])
            download.collection_key = key
            if machine_id:
                link = watch_url(machine_id, key)
        return await _done(session, download, note=None, link=link)
    except (IntegrationUnavailable, IntegrationRejected) as exc:
        logger.info("download %s waits for Plex: %s", download_id, exc)
        return await _wait(session, download, f"Waiting for Plex: it is not answering since "
                                              f"{_since(download)}.")


def _relative(settings: Settings, folder: Path, fallback: str) -> str:
    try:
        return folder.resolve().relative_to(settings.downloads_dir.resolve()).as_posix()
    except ValueError:
        return fallback


def _since(download: YoutubeDownload) -> str:
    if download.status == DownloadState.WAITING_PLEX.value and download.note and " since " in download.note:
        return download.note.rsplit(" since ", 1)[1].rstrip(".")
    return utcnow().strftime("%H:%M UTC")


async def _wait_for_items(plex: PlexServerClient, place: PlexPlace, names: set[str]) -> list[LibraryItem]:
    deadline = time.monotonic() + SCAN_WAIT_S
    while True:
        items = await plex.items_under(place.section.key, place.folder)
        found = [i for i in items if any(Path(f).name in names for f in i.files)]
        if len(found) >= len(names) or time.monotonic() > deadline:
            return sorted(found, key=lambda i: min((Path(f).name for f in i.files), default=""))
        await asyncio.sleep(SCAN_POLL_S)


async def _collect(session: AsyncSession, plex: PlexServerClient, place: PlexPlace, download: YoutubeDownload,
                   member: User | None, keys: list[str]) -> str:
    """Create the playlist's collection, or bring the existing one to exactly these items."""
    existing = {c.rating_key: c for c in await plex.collections(place.section.key)}
    if download.collection_key and download.collection_key in existing:
        have = {i.rating_key for i in await plex.collection_items(download.collection_key)}
        missing = [k for k in keys if k not in have]
        if missing:
            await plex.add_to_collection(download.collection_key, missing)
        return download.collection_key
    title = download.collection_title
    if title:  # chosen by an earlier run that may have made it before it could save the key
        same = next((c for c in existing.values() if c.title == title), None)
        if same is not None:
            have = {i.rating_key for i in await plex.collection_items(same.rating_key)}
            missing = [k for k in keys if k not in have]
            if missing:
                await plex.add_to_collection(same.rating_key, missing)
            return same.rating_key
    else:
        others = set((await session.exec(select(YoutubeDownload.collection_title).where(
            col(YoutubeDownload.id) != download.id, col(YoutubeDownload.collection_title).is_not(None)))).all())
        title = rules.collection_title(download.title, member.username if member else "member",
                                       taken={str(t) for t in others} | {c.title for c in existing.values()})
        download.collection_title = title
        session.add(download)
        await session.commit()
    created = await plex.create_collection(place.section.key, title, keys)
    return created.rating_key


async def _done(session: AsyncSession, download: YoutubeDownload, *, note: str | None, link: str) -> str:
    """The download is finished; the member is told (once: the Plex step is claimed)."""
    download.status = DownloadState.DONE.value
    download.note = note
    download.plex_claimed_until = None
    download.finished_at = download.updated_at = utcnow()
    session.add(download)
    await notifications.add(session, download.user_id, kind="download", title=f"{download.title} is in Plex"
                            if note is None else f"{download.title} is downloaded",
                            body="Your download finished.", link=link,
                            link_label="Watch in Plex" if link.startswith("http") else "Open")
    await session.commit()
    return download.status


async def _wait(session: AsyncSession, download: YoutubeDownload, note: str) -> str:
    download.status = DownloadState.WAITING_PLEX.value
    download.plex_claimed_until = None
    download.note = note[:512]
    download.plex_attempts += 1
    download.updated_at = utcnow()
    session.add(download)
    await session.commit()
    return download.status


async def waiting(session: AsyncSession, *, older_than_s: float = 0) -> list[int]:
    """Downloads Plex still has to take (waiting, or stuck adding longer than ``older_than_s``)."""
    rows = (await session.exec(select(YoutubeDownload.id, YoutubeDownload.status, YoutubeDownload.updated_at).where(
        col(YoutubeDownload.status).in_([DownloadState.WAITING_PLEX.value, DownloadState.ADDING.value])))).all()
    now = utcnow()
    out = []
    for rid, status, updated in rows:
        age = (now - (updated if updated.tzinfo else updated.replace(tzinfo=now.tzinfo))).total_seconds()
        if rid is not None and (status == DownloadState.WAITING_PLEX.value or age > older_than_s):
            out.append(int(rid))
    return out


async def tidy_removed(plex: PlexServerClient | None, settings: Settings, folder: str,
                       collection_key: str | None) -> None:
    """After a download's files were deleted: rescan its folder (Plex drops the items) and
    delete its collection. Best effort: Plex's next scan catches up otherwise."""
    if plex is None:
        return
    try:
        place = await find_place(plex, settings, folder)
        if collection_key:
            await plex.delete_collection(collection_key)
        if place is not None:
            await plex.scan(place.section.key, path=str(PurePosixPath(place.folder).parent))
    except (IntegrationUnavailable, IntegrationRejected) as exc:
        logger.info("Plex not tidied after a removal: %s", exc)
